"""The supervisor: spawn decoders and workers, watch heartbeats, restart with backoff, sd_notify."""
