"""Running the engine locally: private servers, the functions as processes, the demo stream."""
