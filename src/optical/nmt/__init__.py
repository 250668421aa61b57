"""The in-project NMT model: a frozen multilingual encoder and a small trained decoder.

``vocab`` (the decoder's compact vocabulary and target-language tags), ``config`` (the
TOML of ``optical train-nmt``), ``model`` (decoder, loss, greedy / beam decoding),
``states`` (cached source states of the frozen encoder), ``train`` (the trainer) and
``package`` (the saved model folder). The translator backend is
:class:`optical.translate.nmt.NmtTranslator`.
"""
