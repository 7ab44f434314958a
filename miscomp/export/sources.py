"""Where the pictures of an exported dataset come from, and under which licence they may be used.

A reconstruction is a derivative of its original, so it carries the original's licence. The plate
photos are AGPL-3.0 (openalpr/benchmarks): a dataset that includes them must be published under the
AGPL's terms (or exported without them: ``--exclude-source plates``).
"""

from __future__ import annotations

# key: source name in the records; the COCO "licenses" entries are made from this table.
LICENCES: dict[str, dict[str, str]] = {
    "kodak": {
        "name": "Kodak Lossless True Color Image Suite: released by Eastman Kodak for unrestricted "
        "research use",
        "url": "https://r0k.us/graphics/kodak/",
    },
    "plates": {
        "name": "AGPL-3.0 (car photos from openalpr/benchmarks)",
        "url": "https://www.gnu.org/licenses/agpl-3.0.html",
    },
    "skimage": {
        "name": "scikit-image sample data: public domain / CC0 (see skimage.data)",
        "url": "https://scikit-image.org/docs/stable/api/skimage.data.html",
    },
    "scene": {
        "name": "rendered by miscomp (BSD-3-Clause); DejaVu fonts (Bitstream Vera licence)",
        "url": "https://opensource.org/license/bsd-3-clause",
    },
    "other": {"name": "the licence of the images the scan was run on (not known to miscomp)", "url": ""},
}


def licences() -> list[dict[str, str | int]]:
    return [{"id": i, "key": key, **lic} for i, (key, lic) in enumerate(LICENCES.items(), 1)]


def licence_for(source: str) -> dict[str, str | int]:
    table = {lic["key"]: lic for lic in licences()}
    return table.get(source, table["other"])
