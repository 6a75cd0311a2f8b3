# The app's state lives in the migrations each test writes; it has no models of its own.
