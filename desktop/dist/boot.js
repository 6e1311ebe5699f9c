// Loads the UI bundle (wasm-bindgen `--target web` output, copied into pkg/ by
// scripts/build-ui.sh) and mounts the desktop window's pages. A file, not an inline script:
// the window's Content-Security-Policy allows scripts of this origin only.
const missing = document.getElementById('fdt-missing');

async function boot() {
  let ui;
  try {
    ui = await import('./pkg/fdt_ui.js');
    await ui.default({ module_or_path: new URL('./pkg/fdt_ui_bg.wasm', import.meta.url) });
  } catch (e) {
    // The bundle is missing or does not load: say so in the page, with the reason.
    console.error('FlyingDarkDevTunnel UI bundle failed to load', e);
    if (missing) {
      const detail = document.getElementById('fdt-missing-detail');
      if (detail) detail.textContent = `Reason: ${e}`;
      missing.hidden = false;
    }
    return;
  }
  if (missing) missing.remove();
  ui.mount_desktop();
}

// Hidden while loading (a bundle that is there loads in a blink); shown again on failure.
if (missing) missing.hidden = true;
boot();
