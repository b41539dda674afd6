import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { expect } from 'chai';
import sharp from 'sharp';
import yazl from 'yazl';
import { downloadFile, downloadOmniglot, md5OfFile } from '../src/data/download.js';
import { ROOT, SHARED, requireData, tempDir } from './helpers.js';
import { randomCifarContent, writeCifarArchives } from './cifar-archives.js';

const ZIPS = ['images_background.zip', 'images_evaluation.zip'];
const SHARED_ZIPS = path.join(SHARED, 'data', 'omniglot');

interface Server {
  /** The base URL of the archives: `/python/<name>` redirects to `/files/<name>`. */
  base: string;
  requests: { path: string; range?: string }[];
  close(): void;
}

/**
 * Serves `files` on 127.0.0.1 with Range requests; each name in `cutOnce` cuts the file's next
 * response off after half its bytes; `corrupt` names files served with one byte flipped.
 */
async function serve(
  files: ReadonlyMap<string, Buffer>,
  options: { cutOnce?: string[]; corrupt?: string[] } = {},
): Promise<Server> {
  const requests: Server['requests'] = [];
  const cuts = [...(options.cutOnce ?? [])];
  const server = http.createServer((req, res) => {
    requests.push({ path: req.url!, range: req.headers.range });
    const moved = /^\/python\/(.+)$/.exec(req.url!);
    if (moved) return void res.writeHead(302, { location: `/files/${moved[1]}` }).end();
    const name = /^\/files\/(.+)$/.exec(req.url!)?.[1] ?? '';
    let body = files.get(name);
    if (!body) return void res.writeHead(404).end();
    if (options.corrupt?.includes(name)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const rest = body.subarray(start);
    const range = start > 0 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {};
    res.writeHead(start > 0 ? 206 : 200, { 'content-length': rest.length, ...range });
    if (cuts.includes(name) && cuts.splice(cuts.indexOf(name), 1))
      return void res.write(rest.subarray(0, rest.length >> 1), () => res.socket?.destroy());
    res.end(rest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/python/`,
    requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

function sharedZips(): Map<string, Buffer> {
  return new Map(ZIPS.map((name) => [name, fs.readFileSync(path.join(SHARED_ZIPS, name))]));
}

/** The command line, asynchronously: the test server runs in this process. */
function fewshot(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), ...args], {
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr: stderr.trim() })));
}

/** A tiny Omniglot zip: `<part>/<Alphabet>/<character>/<name>.png` entries. */
async function tinyZip(part: string, characters: Record<string, number>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [character, count] of Object.entries(characters)) {
    for (let i = 1; i <= count; i++) {
      const png = await sharp({
        create: { width: 105, height: 105, channels: 3, background: { r: 255, g: 255, b: 255 } },
      })
        .composite([
          { input: { create: { width: 10 * i, height: 20, channels: 3, background: 'black' } }, left: 20, top: 30 },
        ])
        .png()
        .toBuffer();
      zip.addBuffer(png, `${part}/${character}/${String(i).padStart(2, '0')}.png`);
    }
  }
  zip.end();
  return buffer(zip.outputStream);
}

describe('downloads', function () {
  let md5: Record<string, string>;
  const dirs: string[] = [];
  /** A temporary folder, removed after the tests (some hold copies of the 15 MB of zips). */
  const scratch = () => dirs[dirs.push(tempDir('fewshot-download-')) - 1];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  before(async function () {
    requireData(this, path.join(SHARED_ZIPS, ZIPS[0]));
    // The shared zips' bytes differ from the official ones: their own MD5s are passed explicitly.
    md5 = Object.fromEntries(await Promise.all(ZIPS.map(async (n) => [n, await md5OfFile(path.join(SHARED_ZIPS, n))])));
  });

  it('downloads both archives through a redirect, checks their md5, then finds them in place', async () => {
    const server = await serve(sharedZips());
    try {
      const dir = scratch();
      for (const name of ZIPS) {
        const got = await downloadFile(server.base + name, path.join(dir, name), { md5: md5[name] });
        expect(got).to.include({ md5: md5[name], present: false, resumed: false });
        expect(fs.readFileSync(got.file).equals(fs.readFileSync(path.join(SHARED_ZIPS, name)))).to.equal(true);
      }
      expect(server.requests.map((r) => r.path)).to.deep.equal(ZIPS.flatMap((n) => [`/python/${n}`, `/files/${n}`]));
      const again = await downloadFile(server.base + ZIPS[0], path.join(dir, ZIPS[0]), { md5: md5[ZIPS[0]] });
      expect(again.present).to.equal(true);
      expect(server.requests).to.have.length(4);
      expect(fs.readdirSync(dir).sort()).to.deep.equal(ZIPS);
    } finally {
      server.close();
    }
  });

  it('refuses a corrupt archive for its md5: nothing imported, no cache, no partial file', async () => {
    const server = await serve(sharedZips(), { corrupt: ['images_evaluation.zip'] });
    try {
      const dir = scratch();
      const out = path.join(dir, 'cache');
      const error = await downloadOmniglot({
        baseUrl: server.base,
        downloads: path.join(dir, 'zips'),
        out,
        md5,
        retryDelayMs: 0,
      }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).to.match(
        new RegExp(
          `^${server.base}images_evaluation\\.zip: md5 [0-9a-f]{32}, expected ${md5['images_evaluation.zip']}: a corrupt download`,
        ),
      );
      expect(error!.message).not.to.include('\n');
      expect(fs.existsSync(out)).to.equal(false);
      // The good archive is kept (verified); the corrupt one is gone, part and all.
      expect(fs.readdirSync(path.join(dir, 'zips'))).to.deep.equal(['images_background.zip']);
    } finally {
      server.close();
    }
  });

  it('an interrupted download keeps its .part and resumes with a Range request', async () => {
    const name = 'images_background.zip';
    const size = fs.statSync(path.join(SHARED_ZIPS, name)).size;
    const server = await serve(sharedZips(), { cutOnce: [name, name] });
    try {
      const file = path.join(scratch(), name);
      // No retries: the cut fails the call, and the bytes so far stay in the part.
      const error = await downloadFile(server.base + name, file, { md5: md5[name], retries: 0 }).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).to.match(/; \d+ bytes kept in .*images_background\.zip\.part, run again to resume$/);
      // Every byte received before the cut is kept: the server sent exactly half.
      const kept = fs.statSync(`${file}.part`).size;
      expect(kept).to.equal(size >> 1);
      // The retry resumes from the part; cut again, it resumes once more by itself.
      const got = await downloadFile(server.base + name, file, { md5: md5[name], retryDelayMs: 0 });
      expect(got).to.include({ md5: md5[name], resumed: true, bytes: size });
      const ranges = server.requests.filter((r) => r.path.startsWith('/files/')).map((r) => r.range);
      expect(ranges).to.have.length(3);
      expect(ranges[0]).to.equal(undefined);
      expect(ranges[1]).to.equal(`bytes=${kept}-`);
      expect(ranges[2]).to.match(/^bytes=\d+-$/);
      expect(fs.readFileSync(file).equals(fs.readFileSync(path.join(SHARED_ZIPS, name)))).to.equal(true);
      expect(fs.existsSync(`${file}.part`)).to.equal(false);
    } finally {
      server.close();
    }
  });

  it('a missing file fails at once with its HTTP status', async () => {
    const server = await serve(new Map());
    try {
      const error = await downloadFile(`${server.base}nothing.zip`, path.join(scratch(), 'nothing.zip')).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).to.equal(`${server.base}nothing.zip: HTTP 404 Not Found`);
      expect(server.requests).to.have.length(2);
    } finally {
      server.close();
    }
  });

  it('`fewshot data download omniglot` downloads, verifies and imports with the splits', async () => {
    const files = new Map([
      ['images_background.zip', await tinyZip('images_background', { 'Alpha/character01': 2, 'Alpha/character02': 3 })],
      ['images_evaluation.zip', await tinyZip('images_evaluation', { 'Beta/character01': 2 })],
    ]);
    const server = await serve(files, { cutOnce: ['images_evaluation.zip'] });
    try {
      const dir = scratch();
      const splits = path.join(dir, 'vinyals');
      fs.mkdirSync(splits);
      fs.writeFileSync(path.join(splits, 'train.txt'), 'Alpha/character01/rot000\nAlpha/character02/rot090\n');
      fs.writeFileSync(path.join(splits, 'test.txt'), 'Beta/character01/rot180\n');
      const md5s = await Promise.all(
        [...files].map(async ([n, b]) => {
          fs.writeFileSync(path.join(dir, n), b);
          return `${n.replace('.zip', '')}=${await md5OfFile(path.join(dir, n))}`;
        }),
      );
      const out = path.join(dir, 'cache');
      const r = await fewshot(
        [
          'data',
          'download',
          'omniglot',
          '--md5',
          ...md5s,
          '--splits',
          splits,
          '--downloads',
          path.join(dir, 'zips'),
          '--out',
          out,
        ],
        { FEWSHOT_OMNIGLOT_URL: server.base.slice(0, -1) },
      );
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/images_evaluation\.zip: \d+ bytes, md5 [0-9a-f]{32} ok \(resumed\)/);
      expect(r.stdout).to.include('omniglot: 7 images, 3 characters, 2 alphabets\nsplits: train 2, test 1 classes\n');
      expect(fs.readdirSync(out).sort()).to.deep.equal(['images.bin', 'splits']);
    } finally {
      server.close();
    }
  });

  it('`fewshot data download miniimagenet` says what to get and where, and exits non-zero', async () => {
    const r = await fewshot(['data', 'download', 'miniimagenet']);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('DIR/images/ (n0153282900000005.jpg');
    expect(r.stdout).to.include(
      'fewshot data miniimagenet --from DIR --from-imagenet path/to/ILSVRC2012_img_train.tar',
    );
    expect(r.stdout).to.include('fewshot data miniimagenet --from DIR\n');
    expect(r.stderr).to.equal('fewshot: miniImageNet cannot be downloaded automatically; get the files as above');
  });
});

describe('downloads: CIFAR-100', function () {
  this.timeout(60_000);

  it('`fewshot data download cifar100`: MD5-checked, resumed after a cut, imported; a wrong MD5 imports nothing', async () => {
    const dir = tempDir('fewshot-download-');
    await writeCifarArchives(dir, randomCifarContent(3, 2));
    const name = 'cifar-100-python.tar.gz';
    const bytes = fs.readFileSync(path.join(dir, name));
    const md5 = await md5OfFile(path.join(dir, name));
    const server = await serve(new Map([[name, bytes]]), { cutOnce: [name] });
    try {
      const out = path.join(dir, 'caches');
      const args = ['data', 'download', 'cifar100', '--downloads', path.join(dir, 'got'), '--out', out];
      const env = { FEWSHOT_CIFAR100_URL: server.base };
      // The rebuilt archive is not the official one: without its own MD5 it is refused, nothing imported.
      const refused = await fewshot(args, env);
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(
        new RegExp(`^fewshot: ${server.base}${name}: md5 ${md5}, expected eb9058c3a382ffc7106e4002c42a8d85`),
      );
      expect(fs.existsSync(out)).to.equal(false);
      expect(fs.readdirSync(path.join(dir, 'got'))).to.deep.equal([]);

      const r = await fewshot([...args, '--md5', md5], env);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include(`${name}: ${bytes.length} bytes, md5 ${md5} ok`);
      expect(r.stdout).to.include('cifar100: 300 images from the python version');
      expect(fs.readdirSync(out).sort()).to.deep.equal(['cifar-fs', 'fc100']);
      // The first attempt was cut half way: a Range request resumed it.
      expect(server.requests.some((q) => q.range !== undefined)).to.equal(true);
      const again = await fewshot([...args, '--md5', md5, '--json'], env);
      expect(JSON.parse(again.stdout).downloads[0]).to.include({ present: true, md5 });
    } finally {
      server.close();
    }
  });
});
