"""The use cases: every "paths in, folder out" operation of genoface, one module each (simulate,
train, predict, match, traits, audit, evaluate, demo). The command line calls only this layer (and
so will any web page); below it the domain packages compute and never take a user's paths to write
a folder. Import the module you need: each pulls in only what its job uses (the neural models
load PyTorch)."""
