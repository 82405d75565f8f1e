"""Registry of objectives: `config.data.objective` → prepare(split, cfg, tokenizer, train)."""

from jaxlm.objectives import bart, bert_mlm_nsp, causal_lm, genre, roberta_mlm, t5

OBJECTIVES = {
    "causal_lm": causal_lm.prepare,
    "bert_mlm_nsp": bert_mlm_nsp.prepare,
    "roberta_mlm": roberta_mlm.prepare,
    "t5_span_corruption": t5.span_corruption,
    "t5_prefix_lm": t5.prefix_lm,
    "t5_iid_replace_spans": t5.iid_replace_spans,
    "t5_iid_drop_tokens": t5.iid_drop_tokens,
    "t5_bert_style": t5.bert_style,
    "bart_denoise": bart.prepare,
    "genre_classification": genre.classification,
    "genre_text_to_text": genre.text_to_text,
    "genre_continuation": genre.continuation,
}

SENTENCE_OBJECTIVES = ("bert_mlm_nsp", "roberta_mlm")  # their token store is tokenized sentence by sentence
GENRE_OBJECTIVES = ("genre_classification", "genre_text_to_text", "genre_continuation")  # fine-tuning (jaxlm finetune)
