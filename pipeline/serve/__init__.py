"""``zpipe serve``: a resident build server for the DCC hooks, and the review page.

One process keeps engines loaded between builds (:mod:`.engines`), runs builds one at a time per output
root (:mod:`.queue`), answers the hook protocol (:mod:`.hook_route`), serves the review page and its JSON
(:mod:`.browse`, :mod:`.review`) and refuses every path outside the folders it was given
(:mod:`.paths`). :func:`zpipe.serve.app.create_app` assembles it; nothing here is imported by ``zpipe --help``.
"""
