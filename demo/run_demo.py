"""TerraLens demo: install the plugin into a throw-away QGIS profile and run it headless."""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.headless import QgisProcess  # noqa: E402


def main():
    with tempfile.TemporaryDirectory(prefix="terralens-demo-") as home:
        qgis = QgisProcess(home, ROOT)
        qgis.enable_plugin()
        listing = qgis.run_json("list")
        provider = listing["providers"]["terralens"]
        print(f"QGIS {listing['qgis_version']} (headless qgis_process) loaded the plugin.")
        print(f"Processing provider '{provider['name']}' (id terralens) with "
              f"{len(provider.get('algorithms', {}))} algorithms:")
        for algorithm_id, algorithm in sorted(provider.get("algorithms", {}).items()):
            print(f"  {algorithm_id}: {algorithm['name']}")


if __name__ == "__main__":
    main()
