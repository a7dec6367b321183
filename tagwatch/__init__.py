"""tagwatch: one package, so installing it claims one top-level name in site-packages.

The layers, each importing only those below it (tests/test_layers.py reads every
import and holds them to this):

    tagwatch.monitor      app: CLI, runner, demo, enrichment scheduling   -> anything below
    tagwatch.collectors   one module per platform, streams, fakes         -> storage, foundation
    tagwatch.reports      figures, digest, impact report, wall            -> storage, foundation
    tagwatch.storage      the only code that writes SQL                   -> foundation
    tagwatch              foundation: settings, errors, records           -> nothing of tagwatch

The four layer folders stay at the repository root (the product's declared
layout); `tagwatch/monitor` and its siblings are symbolic links to them, so
Python, mypy and setuptools all see one ordinary package tree, and a wheel
holds plain files under `tagwatch/`. This module imports nothing, so the
foundation modules load without pulling in any layer.
"""
