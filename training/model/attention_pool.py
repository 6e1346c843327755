"""Attention pooling whose per-location value path gives dense features in the embedding space."""

import torch
from timm.layers import AttentionPool2d
from timm.layers.pos_embed import resample_abs_pos_embed


class DenseAttentionPool2d(AttentionPool2d):
    """timm's CLIP-style attention pool, also returning MaskCLIP's dense value-path features.

    The query is the mean feature plus its positional embedding; keys and values are every
    location (plus the mean token). The pooled embedding is `proj(sum_n a_n v_n)`, so the
    per-location `proj(v_n)` - the value path without the query/key softmax - lies in the same
    space: the pooled embedding is an attention-weighted mix of them (exactly, per head).
    """

    def __init__(self, in_features, feat_size, out_features, embed_dim, head_dim=64):
        super().__init__(in_features, feat_size=feat_size, out_features=out_features,
                         embed_dim=embed_dim, head_dim=head_dim, qkv_separate=True)

    def resample_pos_embed(self, pos_embed, size=None):
        """`pos_embed` (1 + h*w, C) of a square grid, resampled to `size` (default: own grid)."""
        size = tuple(size or self.feat_size)
        old = int(round((pos_embed.shape[0] - 1) ** 0.5))
        return resample_abs_pos_embed(pos_embed.unsqueeze(0), list(size), old_size=[old, old],
                                      num_prefix_tokens=1)[0]

    def _tokens(self, features):
        _, _, height, width = features.shape
        tokens = features.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)
        pos_embed = self.pos_embed
        # Resample only at another input size: the exported graph then holds no resize op.
        if (height, width) != tuple(self.feat_size):
            pos_embed = self.resample_pos_embed(pos_embed, (height, width))
        return tokens + pos_embed.unsqueeze(0)

    def _split_heads(self, x):
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def attention_weights(self, features):
        """Softmax weights (B, heads, 1 + h*w) of the pooled query over mean token + locations."""
        return self._weights(self._tokens(features))

    def _weights(self, tokens):
        query = self._split_heads(self.q(tokens[:, :1]))
        keys = self._split_heads(self.k(tokens))
        scores = (query * self.scale) @ keys.transpose(-2, -1)
        return scores.softmax(dim=-1)[:, :, 0]

    def forward_dense(self, features):
        """(pooled (B, D), dense (B, D, h, w)) from a trunk feature map (B, C, h, w)."""
        batch, _, height, width = features.shape
        tokens = self._tokens(features)
        values = self.v(tokens)
        weights = self._weights(tokens)
        mixed = (weights.unsqueeze(-2) @ self._split_heads(values)).reshape(batch, -1)
        pooled = self.proj(self.drop(mixed))
        dense = self.proj(values[:, 1:])
        dense = dense.transpose(1, 2).reshape(batch, -1, height, width)
        return pooled, dense

    def forward(self, features, pre_logits=False):
        """Pooled embeddings (B, D) (`pre_logits` is accepted for timm's head API, unused)."""
        return self.forward_dense(features)[0]
