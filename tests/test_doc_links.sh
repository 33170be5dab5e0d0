#!/usr/bin/env bash
# test_doc_links.sh BUILD_DIR SOURCE_DIR: every link and anchor in README.md
# and docs/*.md resolves, every C name in docs/python-to-c.md links to the
# header line declaring it, its tests and examples to their files, no row
# reads longer than 400 characters and nothing points outside the
# repository (scripts/doc-links.py; after a header edit moves declarations,
# `scripts/doc-links.py --fix` updates the links). Skips (77) without python3.
set -u
src="$(cd "${2:?usage: test_doc_links.sh BUILD_DIR SOURCE_DIR}" && pwd)"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
exec python3 "$src/scripts/doc-links.py" "$src"
