"""Cut a byte string into patches where the entropy rises (a toy)."""


def patch_starts(entropies, threshold):
    """Return the indices where a new patch starts."""
    starts = [0]
    for i, e in enumerate(entropies[1:], start=1):
        if e > threshold:
            starts.append(i)
    return starts


class Patcher:
    def __init__(self, threshold=1.5):
        self.threshold = threshold

    def __call__(self, entropies):
        return patch_starts(entropies, self.threshold)
