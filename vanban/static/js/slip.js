// The "In phiếu" button of the processing slip opens the browser's print dialog.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.querySelector("[data-print]");
  if (button) button.addEventListener("click", () => window.print());
});
