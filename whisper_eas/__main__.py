"""`python -m whisper_eas ...`: the same CLI as `whisper-eas` (and what torchrun can launch)."""

from .cli import main

raise SystemExit(main())
