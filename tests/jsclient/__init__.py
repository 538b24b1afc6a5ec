"""warmwire's own JavaScript client (clients/js): its Node tests against a real runner."""
