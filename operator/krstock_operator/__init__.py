"""krstock's Kubernetes operator: ScanJob and SignalPolicy custom resources, reconciled by Kopf.

The operator process imports nothing from ``krstock`` except the shared ``SignalPolicy`` model
and the run kinds (``krstock.app.kinds``, standard library only, copied into its image). The
enqueue command it puts in Jobs (``enqueue.py``) runs in the platform image and also reads the
platform's settings and KRX calendar there, lazily, to skip closed days.
"""

__version__ = "0.1.0"

GROUP = "krstock.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
