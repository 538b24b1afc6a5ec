"""The camera page (``warmwire demo --web``) and its warmwire/faces app."""
