"""A canvas that fills the image and the label map with the *same* integer polygons (no anti-aliasing),
so label boundaries equal the drawn pixels exactly; polygons are clipped at the camera's near plane.
"""

from __future__ import annotations

import cv2
import numpy as np

from streetsim.camera import SHIFT, Camera


def _clip_near(H: np.ndarray, near: float) -> np.ndarray | None:
    """Sutherland-Hodgman clip of one homogeneous polygon against depth >= near."""
    out = []
    n = len(H)
    for i in range(n):
        a = H[i]
        b = H[(i + 1) % n]
        ina = a[2] >= near
        inb = b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    if len(out) < 3:
        return None
    return np.array(out)


class Canvas:
    """An image and a label map drawn together through one camera."""

    __slots__ = ("img", "lab", "cam")

    def __init__(self, img: np.ndarray, lab: np.ndarray, cam: Camera) -> None:
        self.img, self.lab, self.cam = img, lab, cam

    # -- projection -------------------------------------------------------------------------
    @staticmethod
    def _fixed(H: np.ndarray) -> np.ndarray:
        return np.rint(H[..., :2] / H[..., 2:3]).astype(np.int32)

    def project(self, P: np.ndarray) -> np.ndarray | None:
        """World polygon (M×3) → fixed-point image polygon, clipped at the near plane."""
        H = self.cam.hom(P)
        if H[:, 2].min() < self.cam.near:
            clipped = _clip_near(H, self.cam.near)
            if clipped is None:
                return None
            H = clipped
        return self._fixed(H)

    def project_many(self, P: np.ndarray, clip: bool = True) -> list[np.ndarray]:
        """K×M×3 world polygons → list of fixed-point polygons (clipped, or dropped if ``clip`` is False)."""
        H = self.cam.hom(P)
        depth = H[..., 2]
        near = self.cam.near
        ok = depth.min(axis=1) >= near
        if ok.all():
            return list(self._fixed(H))
        out: list[np.ndarray] = []
        if ok.any():
            out.extend(self._fixed(H[ok]))
        if clip:
            for k in np.nonzero(~ok & (depth.max(axis=1) > near))[0]:
                c = _clip_near(H[k], near)
                if c is not None:
                    out.append(self._fixed(c))
        return out

    def project_indexed(self, P: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """K×M×3 world polygons → [(k, fixed-point polygon)] for those with anything in front."""
        H = self.cam.hom(P)
        depth = H[..., 2]
        near = self.cam.near
        ok = depth.min(axis=1) >= near
        out: list[tuple[int, np.ndarray]] = []
        idx = np.nonzero(ok)[0]
        if len(idx):
            out.extend(zip(idx.tolist(), self._fixed(H[idx]), strict=True))
        for k in np.nonzero(~ok & (depth.max(axis=1) > near))[0].tolist():
            c = _clip_near(H[k], near)
            if c is not None:
                out.append((k, self._fixed(c)))
        return out

    # -- filling ----------------------------------------------------------------------------
    def fill(self, pts: list[np.ndarray], colour, label: int | None = None) -> None:
        """Fill polygons that do not overlap each other (one fillPoly call: even-odd rule)."""
        if not pts:
            return
        cv2.fillPoly(self.img, pts, colour, cv2.LINE_8, SHIFT)
        if label is not None:
            cv2.fillPoly(self.lab, pts, label, cv2.LINE_8, SHIFT)

    def fill_label(self, pts: list[np.ndarray], label: int) -> None:
        """Label polygons that may overlap (fillPoly with several polygons is even-odd)."""
        lab = self.lab
        for p in pts:
            cv2.fillPoly(lab, [p], label, cv2.LINE_8, SHIFT)

    def poly(self, P: np.ndarray, colour, label: int | None = None) -> np.ndarray | None:
        pts = self.project(P)
        if pts is not None:
            self.fill([pts], colour, label)
        return pts

    def box(self, x0: float, x1: float, y0: float, y1: float, z0: float, z1: float,
            colours, label: int | None, top: bool = True) -> None:
        """An axis-aligned box: its visible faces. ``colours`` = (x faces, y top, z faces) BGR."""
        cp = self.cam.pos
        faces = []
        cols = []
        if cp[0] < x0:
            faces.append(_F_X0)
            cols.append(colours[0])
        elif cp[0] > x1:
            faces.append(_F_X1)
            cols.append(colours[0])
        if cp[2] < z0:
            faces.append(_F_Z0)
            cols.append(colours[2])
        elif cp[2] > z1:
            faces.append(_F_Z1)
            cols.append(colours[2])
        if top and cp[1] > y1:
            faces.append(_F_Y1)
            cols.append(colours[1])
        if not faces:
            return
        corners = np.array(((x0, y0, z0), (x0, y0, z1), (x0, y1, z0), (x0, y1, z1),
                            (x1, y0, z0), (x1, y0, z1), (x1, y1, z0), (x1, y1, z1)))
        H = self.cam.hom(corners)
        near = self.cam.near
        img = self.img
        if H[:, 2].min() >= near:
            pts = self._fixed(H)
            polys = [pts[f] for f in faces]
        else:
            polys = []
            keep = []
            for f, c in zip(faces, cols, strict=True):
                q = _clip_near(H[f], near)
                if q is not None:
                    polys.append(self._fixed(q))
                    keep.append(c)
            cols = keep
        for q, c in zip(polys, cols, strict=True):
            cv2.fillPoly(img, [q], c, cv2.LINE_8, SHIFT)
        if label is not None and polys:
            cv2.fillPoly(self.lab, polys, label, cv2.LINE_8, SHIFT)


    def boxes(self, B: list, cols: list, labels: list, tops: list | None = None) -> None:
        """Several axis-aligned boxes, painted in order, projected with one call.

        B: [x0, x1, y0, y1, z0, z1] per box; cols: (x faces, top, z faces) colours per box;
        labels: label (or None) per box; tops: draw the top face (default True).
        """
        Ba = np.asarray(B, dtype=np.float64)
        corners = np.stack([Ba[:, _CX], Ba[:, _CY], Ba[:, _CZ]], -1)
        H = self.cam.hom(corners)
        near = self.cam.near
        ok = (H[..., 2].min(axis=1) >= near).tolist()
        if all(ok):
            pts = self._fixed(H)
        else:
            Hs = H.copy()
            Hs[..., 2] = np.maximum(Hs[..., 2], near)
            pts = self._fixed(Hs)
        cpx, cpy, cpz = self.cam.pos.tolist()
        img, lab = self.img, self.lab
        for k, (x0, x1, _y0, y1, z0, z1) in enumerate(B):
            colours = cols[k]
            faces = []
            fc = []
            if cpx < x0:
                faces.append(_F_X0)
                fc.append(colours[0])
            elif cpx > x1:
                faces.append(_F_X1)
                fc.append(colours[0])
            if cpz < z0:
                faces.append(_F_Z0)
                fc.append(colours[2])
            elif cpz > z1:
                faces.append(_F_Z1)
                fc.append(colours[2])
            if cpy > y1 and (tops is None or tops[k]):
                faces.append(_F_Y1)
                fc.append(colours[1])
            if not faces:
                continue
            if ok[k]:
                p = pts[k]
                polys = [p[f] for f in faces]
            else:
                polys = []
                keep = []
                for f, c in zip(faces, fc, strict=True):
                    q = _clip_near(H[k][f], near)
                    if q is not None:
                        polys.append(self._fixed(q))
                        keep.append(c)
                fc = keep
                if not polys:
                    continue
            for q, c in zip(polys, fc, strict=True):
                cv2.fillPoly(img, [q], c, cv2.LINE_8, SHIFT)
            if labels[k] is not None:
                cv2.fillPoly(lab, polys, labels[k], cv2.LINE_8, SHIFT)


# box corner index = 4*ix + 2*iy + iz
_CX = np.array([0, 0, 0, 0, 1, 1, 1, 1])
_CY = np.array([2, 2, 3, 3, 2, 2, 3, 3])
_CZ = np.array([4, 5, 4, 5, 4, 5, 4, 5])
_F_X0 = np.array([0, 2, 3, 1])
_F_X1 = np.array([4, 6, 7, 5])
_F_Z0 = np.array([0, 2, 6, 4])
_F_Z1 = np.array([1, 3, 7, 5])
_F_Y1 = np.array([2, 6, 7, 3])
