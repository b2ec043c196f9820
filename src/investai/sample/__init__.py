"""Demo content: the sample corpus of proprietary documents loaded on first start of ``make run``."""

from investai.sample.documents import SampleDocument, sample_documents

__all__ = ["SampleDocument", "sample_documents"]
