// artefact UI: lazy file tree, "more" pages of a directory, copy buttons.
// The only script the pages run (the CSP allows no other). Fragments come from our own
// server, already escaped; HTML inserted with innerHTML never runs script.
"use strict";

async function fetchFragment(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.text();
}

function failed(target, error) {
  const li = document.createElement("li");
  li.className = "error";
  li.textContent = `could not load: ${error.message}`;
  target.replaceChildren(li);
}

document.addEventListener("toggle", async (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open || details.dataset.loaded) return;
  const list = details.querySelector(":scope > ul.tree");
  details.dataset.loaded = "1";
  try {
    list.innerHTML = await fetchFragment(details.dataset.src);
  } catch (error) {
    delete details.dataset.loaded;
    failed(list, error);
  }
}, true);

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.parentElement && button.parentElement.classList.contains("more") && button.dataset.src) {
    button.disabled = true;
    const item = button.parentElement;
    try {
      const html = await fetchFragment(button.dataset.src);
      item.insertAdjacentHTML("beforebegin", html);
      item.remove();
    } catch (error) {
      button.disabled = false;
      button.textContent = `more… (failed: ${error.message})`;
    }
  } else if (button.dataset.copy) {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (error) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  }
});
