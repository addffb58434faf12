"""krstock's Kubernetes operator: ScanJob and SignalPolicy custom resources, reconciled by Kopf.

The operator imports nothing from ``krstock`` except the shared ``SignalPolicy`` model.
"""

__version__ = "0.1.0"

GROUP = "krstock.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
