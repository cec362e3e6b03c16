# Where the corpora are on this machine. Options of run.sh override these.
# WSJ0 (LDC93S6A/B): the dir that holds wsj0/si_tr_s, wsj0/si_dt_05, wsj0/si_et_05
# (or the LDC disc layout csr_1/11-1.1/wsj0/...).
WSJ0=${WSJ0:-}
# The official mix lists: a dir with mix_<C>_spk_{tr,cv,tt}.txt or MERL's
# create-speaker-mixtures.zip; empty: downloaded on first use.
WSJ0_MIX_LISTS=${WSJ0_MIX_LISTS:-}
