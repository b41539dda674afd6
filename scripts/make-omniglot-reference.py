#!/usr/bin/python3
"""Golden 28x28 Omniglot images made with PIL, to check the TypeScript importer's resize.

For a few chosen images of the official zips: Image.open().convert('L').resize((28, 28),
Image.LANCZOS), the reference pipeline of the Prototypical Networks code, saved as 8-bit grey PNGs
in test/fixtures/omniglot-pil/ with an index.json naming the zip and entry of each.

Usage: /usr/bin/python3 scripts/make-omniglot-reference.py [OMNIGLOT_DIR]
(default OMNIGLOT_DIR: /work/shared/data/omniglot; only reads it).
"""
import io
import json
import os
import sys
import zipfile

import PIL
from PIL import Image

# A spread over both zips, varied alphabets and stroke densities.
CHOSEN = [
    ('images_background.zip', 'images_background/Alphabet_of_the_Magi/character01/0709_01.png'),
    ('images_background.zip', 'images_background/Korean/character05/0647_10.png'),
    ('images_background.zip', 'images_background/Japanese_(katakana)/character13/0608_20.png'),
    ('images_background.zip', 'images_background/Braille/character02/0193_04.png'),
    ('images_background.zip', 'images_background/Malay_(Jawi_-_Arabic)/character20/0575_15.png'),
    ('images_evaluation.zip', 'images_evaluation/Tengwar/character07/1537_05.png'),
    ('images_evaluation.zip', 'images_evaluation/Atlantean/character11/1021_15.png'),
]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/data/omniglot'
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'omniglot-pil')
    os.makedirs(out, exist_ok=True)
    index = []
    for zip_name, entry in CHOSEN:
        with zipfile.ZipFile(os.path.join(src, zip_name)) as zf:
            image = Image.open(io.BytesIO(zf.read(entry))).convert('L').resize((28, 28), Image.LANCZOS)
        # images_background/Korean/character05/0647_10.png -> images_background__Korean__character05__0647_10.png
        name = '__'.join(entry[:-len('.png')].split('/')) + '.png'
        image.save(os.path.join(out, name))
        index.append({'file': name, 'zip': zip_name, 'entry': entry})
    with open(os.path.join(out, 'index.json'), 'w') as f:
        json.dump({'generator': 'scripts/make-omniglot-reference.py', 'pil': PIL.__version__,
                   'resize': "convert('L').resize((28, 28), Image.LANCZOS)", 'images': index}, f, indent=2)
        f.write('\n')
    print(f'{len(index)} reference images in {os.path.normpath(out)}')


if __name__ == '__main__':
    main()
