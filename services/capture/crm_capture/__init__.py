"""The capture service: emails, meetings and web visits become interactions on the
timeline without anyone typing them."""
