"""Domain errors raised by the engine; the shells (CLI, app) turn them into messages."""


class RagError(Exception):
    """Base class of every error the engine raises on purpose."""


class UnsupportedFile(RagError):
    """The file type is not one the engine reads."""


class UnreadableDocument(RagError):
    """The file could not be decoded or parsed."""


class EmptyDocument(RagError):
    """The file holds no indexable text."""


class IndexCorrupt(RagError):
    """The index folder is damaged: a file is missing, truncated or does not match its checksum."""


class IndexWriteError(RagError):
    """The index could not be saved (disk full, no permission ...); the previous one is intact."""


class ModelMismatch(RagError):
    """The index was built with another embedding model or dimension."""


class BackendMismatch(RagError):
    """The index keeps its vectors with a backend that is not the configured one."""


class UnknownDocument(RagError):
    """No document with that id is in the index."""


class MissingDependency(RagError):
    """An optional package is needed; the message carries the install command."""


class BadQuestion(RagError):
    """The question cannot be asked as it is (too long); the message says why."""
