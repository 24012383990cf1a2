"""Run the bushfire job: ``python -m jobs.bushfire --help`` locally, or on a Flink cluster
``flink run -py jobs/bushfire/__main__.py -pyfs <project dirs or zip> -- ...`` (see the README).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

if not __package__:  # run as a file (`flink run -py .../jobs/bushfire/__main__.py`): make `jobs` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv: Optional[list[str]] = None) -> int:
    """Load the configuration, build the pipeline, run it until it ends (bounded) or is cancelled."""
    from jobs.bushfire.config import load_config
    from jobs.bushfire.errors import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from jobs.bushfire.environment import create_environment  # pyflink imports: after --help
    from jobs.bushfire.pipeline import build

    env = create_environment(cfg.runtime)
    build(env, cfg)
    env.execute("emberwatch-bushfire")
    return 0


if __name__ == "__main__":
    sys.exit(main())
