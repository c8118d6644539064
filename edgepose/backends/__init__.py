"""One module per kind of target: each knows how to deploy to it and how to open a link to its agent or
firmware. Boards come from ``targets/*.yaml`` (``edgepose.boards``)."""
