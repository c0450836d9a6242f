"""``python -m headroom.mcp_server``: serve over stdio (same flags as ``headroom mcp serve``)."""

import sys

from .cli import serve_main

if __name__ == "__main__":
    sys.exit(serve_main(sys.argv[1:]))
