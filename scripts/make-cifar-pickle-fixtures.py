#!/usr/bin/env python3
"""Small CIFAR-100 python-version pickles for test/cifar-pickle.test.ts: test/fixtures/cifar-pickle/.

The official cifar-100-python.tar.gz holds `train`, `test` and `meta`, written by Python 2's cPickle
(protocol 2): dicts whose keys and strings are py2 `str` (SHORT_BINSTRING/BINSTRING) and whose
`data` is a numpy uint8 array (N, 3072) pickled as numpy.core.multiarray._reconstruct + BUILD with
the raw bytes in one BINSTRING. No Python 2 numpy is at hand, so `py2` is an emulation: Python 3's
pure-Python pickler, with py2 str written as SHORT_BINSTRING/BINSTRING, the array and dtype reduced
as numpy 1.x did under Python 2, and memo ids from 1 as cPickle numbers them (checked: re-writing
the real `meta` this way gives its exact bytes, see --check-meta). The other forms are what Python 3
writes with real numpy: protocol 2 (bytes as `_codecs.encode` of latin-1 text) with bytes keys, as
`pickle.load(f, encoding='bytes')` gives, or with str keys; protocol 3 with bytes keys
(SHORT_BINBYTES/BINBYTES); protocol 4 with str keys (FRAME, MEMOIZE, STACK_GLOBAL).
Each batch has 6 rows of patterned data, gzipped (a few KB in all); expected.json has their labels,
filenames and the SHA-256 of the data bytes. bad-*.pkl.gz each have one fault the reader must refuse. Needs Python 3.8+ with numpy (made with numpy 2.4.6;
on Debian: apt-get install python3-numpy and run /usr/bin/python3):
    python3 scripts/make-cifar-pickle-fixtures.py                # writes test/fixtures/cifar-pickle/
    python3 scripts/make-cifar-pickle-fixtures.py --check-meta META   # re-writes a real meta, compares
    python3 scripts/make-cifar-pickle-fixtures.py --big FILE [--form py2|p2|p4]  # 50000 random rows
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import pickle
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'cifar-pickle')
ROWS = 6


class Py2Str(bytes):
    """A Python 2 `str`: pickled as SHORT_BINSTRING/BINSTRING."""


class Py2Pickler(pickle._Pickler):
    """Python 3's pure-Python pickler made to write what Python 2's cPickle wrote, for our types."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file):
        super().__init__(file, protocol=2)
        self.memo[id(self)] = (0, self)  # cPickle's memo ids start at 1

    def save_py2str(self, obj):
        n = len(obj)
        self.write((b'U' + bytes([n]) if n < 256 else b'T' + n.to_bytes(4, 'little')) + obj)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str

    def save_global(self, obj, name=None):
        if obj is np._core.multiarray._reconstruct:  # numpy 1.x's module path
            self.write(b'cnumpy.core.multiarray\n_reconstruct\n')
            self.memoize(obj)
        else:
            super().save_global(obj, name)

    def reducer_override(self, obj):
        # numpy 1.x under Python 2: array_reduce and arraydescr_reduce, with str where py2 had str.
        if type(obj) is np.ndarray:
            state = (1, obj.shape, obj.dtype, False, Py2Str(obj.tobytes()))
            return np._core.multiarray._reconstruct, (np.ndarray, (0,), Py2Str(b'b')), state
        if isinstance(obj, np.dtype):
            assert obj == np.uint8
            return np.dtype, (Py2Str(b'u1'), 0, 1), (3, Py2Str(b'|'), None, None, None, -1, -1, 0)
        return NotImplemented


def py2(value):
    """Python 3 str -> py2 str, inside lists and dicts."""
    if isinstance(value, str):
        return Py2Str(value.encode('ascii'))
    if isinstance(value, list):
        return [py2(v) for v in value]
    if isinstance(value, dict):
        return {py2(k): py2(v) for k, v in value.items()}
    return value


def as_bytes(value):
    """str -> bytes, as pickle.load(encoding='bytes') returns py2 str."""
    if isinstance(value, str):
        return value.encode('ascii')
    if isinstance(value, list):
        return [as_bytes(v) for v in value]
    if isinstance(value, dict):
        return {as_bytes(k): as_bytes(v) for k, v in value.items()}
    return value


def dump(obj, form):
    """The pickle bytes of obj (str keys and strings, numpy arrays) in one of the forms above."""
    if form == 'py2':
        f = io.BytesIO()
        Py2Pickler(f).dump(py2(obj))
        return f.getvalue()
    protocol, keys = {'p2-bytes': (2, 'bytes'), 'p2-str': (2, 'str'), 'p3-bytes': (3, 'bytes'), 'p4': (4, 'str')}[form]
    return pickle.dumps(as_bytes(obj) if keys == 'bytes' else obj, protocol=protocol)


def batch(rows, random=None):
    """A train/test dict of `rows` rows: patterned data (all 256 values, row- and channel-dependent)."""
    i = np.arange(rows)[:, None]
    j = np.arange(3072)[None, :]
    if random is None:
        data = ((j % 1024) * (2 * i + 1) + 85 * (j // 1024) + 17 * i) % 256
    else:
        data = random.integers(0, 256, (rows, 3072))
    fine = [(7 * r + 99) % 100 for r in range(rows)]  # 99, 6, 13, ...: both ends of the range
    coarse = [(3 * r + 19) % 20 for r in range(rows)]
    return {
        'filenames': ['img_%05d_s_%06d.png' % (fine[r], r) for r in range(rows)],
        'batch_label': 'training batch 1 of 1',
        'fine_labels': fine,
        'coarse_labels': coarse,
        'data': np.ascontiguousarray(data, dtype=np.uint8),
    }


def meta():
    return {
        'fine_label_names': ['fine_%02d' % k for k in range(100)],
        'coarse_label_names': ['coarse_%02d' % k for k in range(20)],
    }


def bad_cases():
    """(file name, dict, form) of 2-row batches and a meta the reader must refuse, one fault each."""
    def bad(**change):
        b = batch(2)
        b.update(change)
        return {k: v for k, v in b.items() if v is not None}

    b = batch(2)
    m = meta()
    m['fine_label_names'] = m['fine_label_names'][:99]
    return [
        ('bad-fine-label.pkl.gz', bad(fine_labels=[99, 100]), 'py2'),
        ('bad-coarse-label.pkl.gz', bad(coarse_labels=[19, -1]), 'p4'),
        ('bad-rows.pkl.gz', bad(data=b['data'][:1]), 'py2'),
        ('bad-filenames.pkl.gz', bad(filenames=b['filenames'] * 2), 'py2'),
        ('bad-dtype.pkl.gz', bad(data=b['data'].astype(np.int16)), 'p4'),
        ('bad-shape.pkl.gz', bad(data=b['data'].reshape(6, 1024)), 'py2'),
        ('bad-missing-key.pkl.gz', bad(coarse_labels=None), 'py2'),
        ('bad-meta.pkl.gz', m, 'py2'),
    ]


def write_fixtures():
    os.makedirs(OUT, exist_ok=True)
    b = batch(ROWS)
    expected = {
        'batch': {
            'rows': ROWS,
            'fine_labels': b['fine_labels'],
            'coarse_labels': b['coarse_labels'],
            'filenames': b['filenames'],
            'data_sha256': hashlib.sha256(b['data'].tobytes()).hexdigest(),
        },
        'meta': meta(),
        'files': {},
    }
    for form in ('py2', 'p2-bytes', 'p2-str', 'p3-bytes', 'p4'):
        for kind, obj in (('train', b), ('meta', meta())):
            name = '%s-%s.pkl.gz' % (kind, form)
            with open(os.path.join(OUT, name), 'wb') as f:
                f.write(gzip.compress(dump(obj, form), mtime=0))
            expected['files'][name] = kind
    for name, obj, form in bad_cases():
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(gzip.compress(dump(obj, form), mtime=0))
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')


def check_meta(path):
    """Re-writes a real (Python 2) meta file with Py2Pickler: the bytes must be the same."""
    with open(path, 'rb') as f:
        real = f.read()
    obj = pickle.loads(real, encoding='ascii')
    same = dump(obj, 'py2') == real
    print('%s: py2 emulation %s' % (path, 'gives the same bytes' if same else 'DIFFERS'))
    return same


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check-meta', metavar='META')
    parser.add_argument('--big', metavar='FILE', help='write a 50000-row random train-sized batch here')
    parser.add_argument('--form', default='py2', choices=['py2', 'p2-bytes', 'p2-str', 'p3-bytes', 'p4'])
    args = parser.parse_args()
    if args.check_meta:
        sys.exit(0 if check_meta(args.check_meta) else 1)
    if args.big:
        with open(args.big, 'wb') as f:
            f.write(dump(batch(50000, np.random.default_rng(0)), args.form))
        return
    write_fixtures()


if __name__ == '__main__':
    main()
