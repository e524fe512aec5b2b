"""``python -m segstream ...``: the same as the installed ``segstream`` command."""

from segstream.commands import main

raise SystemExit(main())
