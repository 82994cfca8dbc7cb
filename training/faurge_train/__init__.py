"""Faurge training: differentiable DSP mirrors of faurge-dsp, the dataset
reader, and the four models (encoder, Fabian, Ursula, Genesis)."""
