"""The bundle: its data model (:mod:`.model`), its files' formats (:mod:`.sqlfile`,
:mod:`.checksfile`), the documents for people (:mod:`.documents`), and bundles on disk
(:mod:`.store`, :mod:`.writer`)."""

from .store import load_bundle

__all__ = ["load_bundle"]
