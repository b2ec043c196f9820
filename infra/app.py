"""The CDK app: ``python app.py`` (or ``cdk synth``) synthesises every stage, or one with ``-c stage=prod``.

cdk-nag's AwsSolutions rules run as a validation plugin over the whole app: an unacknowledged finding makes
synth fail, with the details in ``<outdir>/validation-report.json``. ``INVESTAI_INFRA_NAG=0`` turns the rules
off (for quick iterations only; ``make synth`` and the tests keep them on).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from investai_infra.build import build_app

if __name__ == "__main__":
    build_app().synth()
