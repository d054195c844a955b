"""Reports: progress and NDJSON events, diffs, contact sheets, CI reports. They read manifests only."""
