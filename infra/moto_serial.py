"""moto server answering one request at a time.

DynamoDB runs transactions in isolation; moto's threaded server does not (its
TransactWriteItems snapshots and restores whole tables, so two concurrent transactions
can leave a loser's writes behind). Serving requests one at a time restores the isolation
the conformance suite checks. Usage: python moto_serial.py HOST PORT
"""

import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
