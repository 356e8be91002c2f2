/* "Change your photo": drag-and-drop and an in-page square crop.
 *
 * Without this script the form still works (the mailbox keeps the middle square). With it, the
 * person moves and zooms the picture under a fixed square; the square is sent as left/top/side
 * in the pixels of the picture *as displayed*, i.e. after its EXIF orientation, which is also
 * how the server's CropBox counts. createImageBitmap(..., {imageOrientation: "from-image"})
 * makes that explicit rather than relying on <img> defaults.
 */
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");

  // Removing is the one action here that cannot be undone: ask first (without this script the
  // button still works, as a plain form).
  var remove = document.getElementById("remove-form");
  if (remove) {
    remove.addEventListener("submit", function (event) {
      if (!window.confirm("Remove your photo? People will see your initials instead.")) {
        event.preventDefault();
      }
    });
  }

  var form = document.getElementById("upload-form");
  if (!form) return;

  var input = document.getElementById("photo-file");
  var zone = document.getElementById("dropzone");
  var cropper = document.getElementById("cropper");
  var canvas = document.getElementById("crop-canvas");
  var zoom = document.getElementById("crop-zoom");
  var reset = document.getElementById("crop-reset");
  var status = document.getElementById("crop-status");
  var note = document.getElementById("file-note");
  var out = {
    left: document.getElementById("crop-left"),
    top: document.getElementById("crop-top"),
    side: document.getElementById("crop-side")
  };
  var maxBytes = Number(form.getAttribute("data-max-bytes")) || 0;
  var ctx = canvas.getContext("2d");

  var picture = null; // an ImageBitmap or <img>, oriented
  var width = 0, height = 0;
  var full = 1, smallest = 1; // largest and smallest square sides allowed
  var crop = { left: 0, top: 0, side: 0 };
  var loadId = 0;

  function say(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  function clearCrop() {
    picture = null;
    cropper.hidden = true;
    out.left.value = out.top.value = out.side.value = "";
  }

  function clamp() {
    crop.side = Math.min(Math.max(crop.side, smallest), full);
    crop.left = Math.min(Math.max(crop.left, 0), width - crop.side);
    crop.top = Math.min(Math.max(crop.top, 0), height - crop.side);
  }

  function zoomToSide(value) {
    // Logarithmic: each step of the slider zooms by the same factor.
    return full * Math.pow(smallest / full, value / 100);
  }

  function sideToZoom(side) {
    if (full <= smallest) return 0;
    return Math.round((100 * Math.log(side / full)) / Math.log(smallest / full));
  }

  function setSide(side) {
    var cx = crop.left + crop.side / 2, cy = crop.top + crop.side / 2;
    crop.side = side;
    crop.left = cx - side / 2;
    crop.top = cy - side / 2;
    clamp();
  }

  function centre() {
    crop.side = full;
    crop.left = (width - full) / 2;
    crop.top = (height - full) / 2;
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var size = Math.round(canvas.clientWidth * ratio) || 320;
    if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
    ctx.clearRect(0, 0, size, size);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(picture, crop.left, crop.top, crop.side, crop.side, 0, 0, size, size);
    // Most places show the photo in a circle: dim what the circle leaves out.
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, size, size);
    ctx.arc(size / 2, size / 2, size / 2 - 1, 0, Math.PI * 2, true);
    ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
    ctx.fill("evenodd");
    ctx.beginPath();
    ctx.arc(size / 2, size / 2, size / 2 - 1, 0, Math.PI * 2);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.lineWidth = Math.max(1, ratio);
    ctx.stroke();
    ctx.restore();
  }

  function update(announce) {
    clamp();
    var side = Math.max(1, Math.min(Math.round(crop.side), width, height));
    var left = Math.min(Math.max(Math.round(crop.left), 0), width - side);
    var top = Math.min(Math.max(Math.round(crop.top), 0), height - side);
    out.left.value = String(left);
    out.top.value = String(top);
    out.side.value = String(side);
    zoom.value = String(sideToZoom(crop.side));
    draw();
    if (announce) {
      status.textContent = "Square of " + side + " by " + side + " pixels, " + left +
        " from the left and " + top + " from the top.";
    }
  }

  function show(source, w, h) {
    picture = source;
    width = w;
    height = h;
    full = Math.min(w, h);
    // Zooming in past 1/8 of the short side (or 48 px) only makes a blurry photo.
    smallest = Math.min(full, Math.max(48, Math.round(full / 8)));
    centre();
    cropper.hidden = false;
    update(true);
  }

  function decode(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
        return { source: bitmap, width: bitmap.width, height: bitmap.height };
      });
    }
    return new Promise(function (resolve, reject) {
      var img = new Image();
      var url = URL.createObjectURL(file);
      img.onload = function () {
        resolve({ source: img, width: img.naturalWidth, height: img.naturalHeight });
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      img.src = url;
    });
  }

  function load(file) {
    var id = ++loadId;
    clearCrop();
    say(note, "");
    if (!file) return;
    if (maxBytes && file.size > maxBytes) {
      say(note, "This file is " + (file.size / 1048576).toFixed(1) + " MB; photos can be at most " +
        (maxBytes / 1048576).toFixed(0) + " MB. Choose a smaller one.");
      return;
    }
    decode(file).then(function (result) {
      if (id === loadId) show(result.source, result.width, result.height);
    }, function () {
      if (id === loadId) {
        say(note, "This file can't be shown here, so it can't be cropped. " +
          "Upload it to find out whether it can be used.");
      }
    });
  }

  input.addEventListener("change", function () { load(input.files && input.files[0]); });

  // --- drag and drop onto the drop zone ------------------------------------------------
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) {
      if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("dragging");
    });
  });
  ["dragleave", "dragend"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    zone.classList.remove("dragging");
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    event.preventDefault();
    var chosen = new DataTransfer();
    chosen.items.add(files[0]);
    input.files = chosen.files;
    load(files[0]);
  });

  // --- moving and zooming ----------------------------------------------------------------
  var drag = null;
  canvas.addEventListener("pointerdown", function (event) {
    if (!picture) return;
    canvas.setPointerCapture(event.pointerId);
    drag = { x: event.clientX, y: event.clientY };
    canvas.focus();
  });
  canvas.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var scale = crop.side / (canvas.clientWidth || 320);
    crop.left -= (event.clientX - drag.x) * scale;
    crop.top -= (event.clientY - drag.y) * scale;
    drag = { x: event.clientX, y: event.clientY };
    update(false);
  });
  function endDrag() { if (drag) { drag = null; update(true); } }
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);

  canvas.addEventListener("wheel", function (event) {
    if (!picture) return;
    event.preventDefault();
    setSide(crop.side * (event.deltaY > 0 ? 1.1 : 1 / 1.1));
    update(false);
  }, { passive: false });

  canvas.addEventListener("keydown", function (event) {
    if (!picture) return;
    var step = Math.max(1, crop.side / (event.shiftKey ? 5 : 20));
    // The arrows move the picture, as dragging does: "right" shows more of its left side.
    switch (event.key) {
      case "ArrowLeft": crop.left += step; break;
      case "ArrowRight": crop.left -= step; break;
      case "ArrowUp": crop.top += step; break;
      case "ArrowDown": crop.top -= step; break;
      case "+": case "=": setSide(crop.side / 1.1); break;
      case "-": case "_": setSide(crop.side * 1.1); break;
      case "Home": case "0": centre(); break;
      default: return;
    }
    event.preventDefault();
    update(true);
  });

  zoom.addEventListener("input", function () {
    if (!picture) return;
    setSide(zoomToSide(Number(zoom.value)));
    update(false);
  });
  zoom.addEventListener("change", function () { if (picture) update(true); });
  reset.addEventListener("click", function () {
    if (!picture) return;
    centre();
    update(true);
  });
  window.addEventListener("resize", function () { if (picture) draw(); });
})();
