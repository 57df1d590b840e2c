"""Work the window hands off: decoding now, the recognition worker and training later.

The only app code that may import `stmanet`."""
