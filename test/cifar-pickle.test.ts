import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { expect } from 'chai';
import { readCifarPickleBatch, readCifarPickleMeta } from '../src/data/cifar-pickle.js';
import { ROOT, SHARED, requireData } from './helpers.js';

/** Made by scripts/make-cifar-pickle-fixtures.py with numpy: the official (Python 2) form and Python 3's. */
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'cifar-pickle');
const REAL_META = path.join(SHARED, 'data', 'cifar100', 'cifar-100-python', 'meta');

interface Expected {
  batch: { rows: number; fine_labels: number[]; coarse_labels: number[]; filenames: string[]; data_sha256: string };
  meta: { fine_label_names: string[]; coarse_label_names: string[] };
  files: Record<string, 'train' | 'meta'>;
}
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Expected;
const fixture = (name: string) => new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(FIXTURES, name))));
const names = (kind: string) => Object.keys(expected.files).filter((name) => expected.files[name] === kind);

/** The message of what fn throws, checked to be one line naming the file. */
function errorOf(file: string, fn: () => unknown): string {
  let message = '';
  try {
    fn();
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message, 'an error').to.not.equal('');
  expect(message).to.satisfy((m: string) => m.startsWith(`${file}: `) && !m.includes('\n'), message);
  return message.slice(file.length + 2);
}

/** A hand-made pickle: protocol 2 header, then the given opcodes. */
const pickle = (body: string) => new Uint8Array(Buffer.from(`\x80\x02${body}`, 'latin1'));

describe('CIFAR-100 pickles', () => {
  it('has every form of batch and meta fixture', () => {
    expect(names('train')).to.have.length(5);
    expect(names('meta')).to.have.length(5);
  });

  for (const name of names('train')) {
    it(`reads the batch ${name}`, () => {
      const bytes = fixture(name);
      const got = readCifarPickleBatch(bytes, name);
      const want = expected.batch;
      expect(got.data.length).to.equal(want.rows * 3072);
      expect(crypto.createHash('sha256').update(got.data).digest('hex')).to.equal(want.data_sha256);
      expect(got.fineLabels).to.deep.equal(want.fine_labels);
      expect(got.coarseLabels).to.deep.equal(want.coarse_labels);
      expect(got.filenames).to.deep.equal(want.filenames);
      // Raw bytes in the pickle (not Python 3's protocol-2 latin-1 text) are returned as a view, not copied.
      if (!name.includes('-p2-')) expect(got.data.buffer).to.equal(bytes.buffer);
    });
  }

  for (const name of names('meta')) {
    it(`reads the meta ${name}`, () => {
      const got = readCifarPickleMeta(fixture(name), name);
      expect(got.fineLabelNames).to.deep.equal(expected.meta.fine_label_names);
      expect(got.coarseLabelNames).to.deep.equal(expected.meta.coarse_label_names);
    });
  }

  it('reads the real meta of cifar-100-python.tar.gz', function () {
    requireData(this, REAL_META);
    const got = readCifarPickleMeta(new Uint8Array(fs.readFileSync(REAL_META)), 'meta');
    expect(got.fineLabelNames).to.have.length(100);
    expect(got.fineLabelNames.slice(0, 2)).to.deep.equal(['apple', 'aquarium_fish']);
    expect(got.fineLabelNames.at(-1)).to.equal('worm');
    expect(got.coarseLabelNames).to.have.length(20);
    expect(got.coarseLabelNames[0]).to.equal('aquatic_mammals');
  });

  it('says a pickle cut short is truncated', () => {
    for (const name of Object.keys(expected.files)) {
      const bytes = fixture(name);
      const read = expected.files[name] === 'train' ? readCifarPickleBatch : readCifarPickleMeta;
      // Every cut through the header and lists, then a sample of those through the data.
      for (let n = 0; n < bytes.length; n += n < 1024 ? 1 : 37) {
        expect(errorOf(name, () => read(bytes.subarray(0, n), name))).to.match(/^truncated pickle \(ends /);
      }
    }
    const cut = fixture('train-py2.pkl.gz').subarray(0, 1000);
    expect(errorOf('f', () => readCifarPickleBatch(cut, 'f'))).to.match(/^truncated pickle \(ends inside BINSTRING /);
  });

  it('refuses unknown opcodes and globals other than numpy and _codecs ones', () => {
    const read = (body: string) => errorOf('f', () => readCifarPickleBatch(pickle(body), 'f'));
    expect(read('I1\n.')).to.equal('not a CIFAR-100 pickle (unknown opcode 0x49 at byte 2)');
    expect(read('cos\nsystem\nX\x02\x00\x00\x00ls\x85R.')).to.equal(
      'not a CIFAR-100 pickle (forbidden global os.system at byte 2)',
    );
    expect(read('\x8c\x08builtins\x8c\x04eval\x93.')).to.equal(
      'not a CIFAR-100 pickle (forbidden global builtins.eval at byte 18)',
    );
    expect(read('cnumpy\nndarray\n)R.')).to.equal('not a CIFAR-100 pickle (call of numpy.ndarray at byte 18)');
    expect(read('\x8c\x01a.')).to.equal('not a CIFAR-100 pickle (not a dict)');
    expect(errorOf('f', () => readCifarPickleBatch(new Uint8Array([0x80, 0x05]), 'f'))).to.equal(
      'not a CIFAR-100 pickle (unsupported pickle protocol 5 at byte 0)',
    );
  });

  it('checks labels, lengths, dtype, shape and keys', () => {
    const cases: Record<string, string> = {
      'bad-fine-label.pkl.gz': 'fine label 100 at row 1 is out of range 0-99',
      'bad-coarse-label.pkl.gz': 'coarse label -1 at row 1 is out of range 0-19',
      'bad-rows.pkl.gz': "'data' is 1 rows of 3072 bytes but 'fine_labels' has 2",
      'bad-filenames.pkl.gz': "'data' is 2 rows of 3072 bytes but 'filenames' has 4",
      'bad-dtype.pkl.gz': "'data' dtype is i2, not uint8",
      'bad-shape.pkl.gz': "'data' has shape (6, 1024), not (N, 3072)",
      'bad-missing-key.pkl.gz': "missing key 'coarse_labels'",
    };
    for (const [name, message] of Object.entries(cases)) {
      expect(errorOf(name, () => readCifarPickleBatch(fixture(name), name))).to.equal(message);
    }
    const meta = 'bad-meta.pkl.gz';
    expect(errorOf(meta, () => readCifarPickleMeta(fixture(meta), meta))).to.equal(
      "'fine_label_names' has 99 names, not 100",
    );
  });
});
