"""Loading 2D ImageNet checkpoints (written here by the tests) into the video models."""
import pytest
import timm
import torch
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer

import pst.models  # noqa: F401  (registers the models)
from pst.models import load_deit_2d
from pst.models.swin_checkpoints import load_swin_2d

DEIT = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _static_clip(img, frames):
    return img.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()


def test_deit_2d_checkpoint_gives_2d_features_on_static_clip(tmp_path):
    src = VisionTransformer(img_size=32, num_classes=5, **DEIT).eval()
    path = tmp_path / "deit2d.pth"
    torch.save({"model": src.state_dict()}, path)
    for name in ("deit_s_2d", "deit_s_tsm", "deit_s_tps"):
        video = timm.create_model(name, img_size=32, num_classes=5, num_frames=4, checkpoint_2d=str(path), **DEIT)
        video.eval()
        img = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            out = video(_static_clip(img, 4))
        if name != "deit_s_tsm":   # a channel shift with zero padded ends changes the first and last frames
            torch.testing.assert_close(out, src(img), atol=1e-5, rtol=1e-5)


def test_deit_position_embedding_resized_and_head_dropped(tmp_path):
    src = VisionTransformer(img_size=32, num_classes=1000, **DEIT)
    path = tmp_path / "deit2d.safetensors"
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    video = timm.create_model("deit_s_tps", img_size=48, num_classes=7, num_frames=4, **DEIT)
    missing = load_deit_2d(video, str(path))
    assert sorted(missing) == ["head.bias", "head.weight"]
    assert video.pos_embed.shape == (1, 1 + 36, 32)
    torch.testing.assert_close(video.pos_embed[:, 0], src.pos_embed[:, 0])
    assert video(torch.randn(1, 3, 4, 48, 48)).shape == (1, 7)


def test_deit_wrong_checkpoint_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"model": {"not.a.vit.weight": torch.zeros(3)}}, path)
    video = timm.create_model("deit_s_2d", img_size=32, num_classes=5, **DEIT)
    with pytest.raises(ValueError, match="other.pth"):
        load_deit_2d(video, str(path))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_deit_2d(video, str(tmp_path / "missing.pth"))


SWIN = dict(embed_dim=16, depths=(2, 2), num_heads=(2, 4))


def _to_original_layout(state):
    """timm's Swin keys -> the original Microsoft layout (patch merge at the end of a stage, head.*)."""
    out = {}
    for k, v in state.items():
        if ".downsample." in k:
            i = int(k.split(".")[1])
            k = k.replace(f"layers.{i}.downsample", f"layers.{i - 1}.downsample")
        out[k.replace("head.fc.", "head.")] = v
    return {"model": out}


@pytest.mark.parametrize("layout", ["timm", "original"])
def test_inflated_swin_equals_2d_swin_on_static_clip(tmp_path, layout):
    src = SwinTransformer(img_size=56, patch_size=4, window_size=7, num_classes=5, **SWIN).eval()
    state = src.state_dict()
    path = tmp_path / f"swin_{layout}.pth"
    torch.save(_to_original_layout(state) if layout == "original" else state, path)
    video = timm.create_model("swin_t_2d", num_classes=5, num_frames=8, head_drop=0.0, **SWIN).eval()
    assert load_swin_2d(video, str(path)) == []
    # the patch embedding is repeated over the temporal patch and divided by its length
    torch.testing.assert_close(video.patch_embed.proj.weight.sum(2), state["patch_embed.proj.weight"])
    # each 2D table is repeated over the 31 temporal offsets
    table = video.layers[0].blocks[0].attn.relative_position_bias_table
    assert table.shape == (31 * 169, 2)
    torch.testing.assert_close(table[15 * 169:16 * 169], state["layers.0.blocks.0.attn.relative_position_bias_table"])
    img = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(video(_static_clip(img, 8)), src(img), atol=1e-5, rtol=1e-4)


def test_pst_from_2d_checkpoint_runs_and_bias_resized(tmp_path):
    src = SwinTransformer(img_size=48, patch_size=4, window_size=6, num_classes=5, **SWIN)
    path = tmp_path / "swin_w6.pth"
    torch.save({"model": src.state_dict()}, path)
    video = timm.create_model("pst_t", num_classes=3, num_frames=8, checkpoint_2d=str(path), **SWIN)
    assert video.layers[0].blocks[1].attn.relative_position_bias_table.shape == (31 * 169, 2)
    assert video(torch.randn(1, 3, 8, 56, 56)).shape == (1, 3)


def test_each_model_names_the_papers_2d_weights_in_its_timm_pretrained_cfg():
    """IN-1K DeiT-S and Swin-T, IN-21K Swin-B (the paper), not timm's default Swin-B tag (22K fine-tuned on 1K)."""
    from timm.models import get_pretrained_cfg

    want = {"deit_s_2d": "deit_small_patch16_224.fb_in1k", "deit_s_tps": "deit_small_patch16_224.fb_in1k",
            "pst_t": "swin_tiny_patch4_window7_224.ms_in1k", "swin_t_2d": "swin_tiny_patch4_window7_224.ms_in1k",
            "pst_b": "swin_base_patch4_window7_224.ms_in22k"}
    for model, weights in want.items():
        cfg = get_pretrained_cfg(model)
        assert cfg.hf_hub_id == f"timm/{weights}", model
    assert get_pretrained_cfg("pst_b").num_classes == 21841
    built = timm.create_model("pst_b", num_frames=4, depths=(2, 2), num_heads=(4, 8))     # no download
    assert built.pretrained_cfg["tag"] == "ms_in22k" and built.num_classes == 400


def test_local_2d_weights_load_through_timms_builder_and_the_models_filter(tmp_path):
    """`checkpoint_2d=PATH` is timm's pretrained_cfg_overlay=dict(file=PATH) with the model's checkpoint filter:
    the same weights either way, from a file in timm's own Swin layout."""
    src = SwinTransformer(img_size=56, patch_size=4, window_size=7, num_classes=1000, **SWIN)
    path = tmp_path / "swin_tiny.pth"
    torch.save(src.state_dict(), path)
    ours = timm.create_model("pst_t", num_classes=3, num_frames=8, checkpoint_2d=str(path), **SWIN)
    timms = timm.create_model("pst_t", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), num_classes=3,
                              num_frames=8, **SWIN)
    a, b = ours.state_dict(), timms.state_dict()
    for k in a:
        if not k.startswith("head."):                         # the 3-class heads are fresh (a new classifier)
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    torch.testing.assert_close(a["patch_embed.proj.weight"].sum(2), src.state_dict()["patch_embed.proj.weight"])
    with pytest.raises(ValueError, match=r"checkpoint .*other.pth: keys not in PatchShiftSwin"):
        torch.save({"model": {"not.a.swin.weight": torch.zeros(3)}}, tmp_path / "other.pth")
        timm.create_model("pst_t", num_frames=8, checkpoint_2d=str(tmp_path / "other.pth"), **SWIN)


def test_the_swin_model_does_not_import_the_video_checkpoint_loader():
    """One direction only: inflate (official video checkpoints) uses swin's filter; swin never imports inflate."""
    import subprocess
    import sys

    probe = "import sys, pst.models; print('pst.models.swin_checkpoints' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
