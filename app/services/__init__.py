"""Work the window hands off: decoding, recognition, exports (and training later).

The only app code that may import `stmanet`."""
