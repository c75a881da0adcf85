"""Sample photos that ship offline with scikit-image (BSD-3; the photos are public domain or CC0) and
matplotlib: the image panels' gallery. Read from the installed packages' data folders (no download)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# name -> (package, file inside its data folder, credit)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png", "Eileen Collins, NASA (public domain), via scikit-image"),
    "chelsea": ("skimage", "data/chelsea.png", "Chelsea the cat, Stefan van der Walt (CC0), via scikit-image"),
    "coffee": ("skimage", "data/coffee.png", "a cup of coffee, Rachel Michetti (CC0), via scikit-image"),
    "rocket": ("skimage", "data/rocket.jpg", "a Falcon 9 launch, SpaceX (CC0), via scikit-image"),
    "motorcycle": ("skimage", "data/motorcycle_left.png", "Middlebury 2014 stereo set (left view), via scikit-image"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                     "Grace Hopper, US Navy (public domain), via matplotlib"),
}


def sample_path(name: str) -> Path:
    """The file of a gallery photo, from its package's data folder."""
    if name not in SAMPLES:
        raise KeyError(f"no sample photo {name!r}; choose one of {', '.join(SAMPLES)}")
    package, rel, _ = SAMPLES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the sample photo {name!r} comes with the {package} package, which is not installed "
                                f"(pip install {'scikit-image' if package == 'skimage' else package}).")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package} package.")
    return path


def available() -> list[str]:
    """The sample photos present here (a gallery shows only these)."""
    out = []
    for name in SAMPLES:
        try:
            sample_path(name)
        except (FileNotFoundError, KeyError):
            continue
        out.append(name)
    return out
