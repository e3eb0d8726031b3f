"""The Kubernetes minor versions EKS and GKE offer, with their support dates (``data/kubernetes_versions.csv``).

Data separate from code, as the instance catalog is: the file's header names its sources and the date its rows
were read (``as_of``); the plan warns when that is older than the price data may be (planner ``STALE_PRICES_DAYS``).
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import NamedTuple

from aiinfra.catalog import DATA_DIR, CatalogError

VERSIONS_FILE = DATA_DIR / "kubernetes_versions.csv"
SERVICE = {"aws": "EKS", "gcp": "GKE"}


class KubernetesVersion(NamedTuple):
    cloud: str
    version: str  # "1.35"
    available: datetime.date  # EKS: released on EKS; GKE: reached the Regular channel
    end_of_standard_support: datetime.date
    end_of_extended_support: datetime.date | None  # None: not in the table (GKE)

    def key(self) -> tuple[int, ...]:
        return version_key(self.version)


class KubernetesVersions(NamedTuple):
    rows: tuple[KubernetesVersion, ...]
    as_of: str
    path: Path

    def of(self, cloud: str) -> dict[str, KubernetesVersion]:
        return {r.version: r for r in self.rows if r.cloud == cloud}

    def find(self, cloud: str, version: str) -> KubernetesVersion | None:
        return self.of(cloud).get(version)

    def default(self) -> str:
        """The newest version both EKS and GKE list: a spec on both clouds runs one Kubernetes version."""
        both = set(self.of("aws")) & set(self.of("gcp"))
        return max(both, key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@functools.lru_cache(maxsize=4)
def load_versions(path: Path = VERSIONS_FILE) -> KubernetesVersions:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read Kubernetes versions: {exc.strerror}") from None
    as_of = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("# as_of:")), "")
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    rows = []
    for i, line in enumerate(body[1:], start=1):
        try:
            cloud, version, available, standard, extended = line.split(",")
            version_key(version)
            rows.append(KubernetesVersion(cloud, version, datetime.date.fromisoformat(available), datetime.date.fromisoformat(standard),
                                          datetime.date.fromisoformat(extended) if extended else None))
        except ValueError as exc:
            raise CatalogError(f"{path}: data row {i}: {exc}") from None
    return KubernetesVersions(tuple(rows), as_of, path)
