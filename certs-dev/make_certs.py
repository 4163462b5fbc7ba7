"""Regenerate the development PKI in this folder.

    python certs-dev/make_certs.py [OUT_DIR]

Writes ca.pem, and NAME.pem / NAME.key for the hub, the partners facebook,
instagram and yubo, the operator, the auditor and a witness. The CA's private key is
not kept: to add a certificate, regenerate them all. Development only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hashlist.devpki import write_dev_pki

if __name__ == "__main__":
    write_dev_pki(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
    print("development certificates written")
