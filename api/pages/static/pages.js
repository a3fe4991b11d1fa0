// Sign-in of the household's page: the wallet (EIP-1193, through ethers) personal_signs the
// server's one-time sign-in message; the server answers with an HttpOnly session cookie.
// Every text shown comes from the page (data-msg-* attributes rendered from the catalogues).
"use strict";

(function () {
  const button = document.getElementById("signin");
  const box = document.getElementById("message");

  function show(text) {
    box.textContent = text;
    box.hidden = false;
    box.focus();
  }

  async function problemOf(response) {
    try {
      const body = await response.json();
      return String(body.type || "");
    } catch (error) {
      return "";
    }
  }

  async function signIn() {
    const msg = (name) => button.dataset[name];
    if (!window.ethereum || !window.ethers) {
      show(msg("msgNoWallet"));
      return;
    }
    button.disabled = true;
    show(msg("msgSigning"));
    try {
      const provider = new window.ethers.BrowserProvider(window.ethereum);
      const signer = await provider.getSigner();
      const address = await signer.getAddress();
      const challenge = await fetch("/auth/challenge", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ address: address }),
      });
      if (!challenge.ok) {
        show(msg(challenge.status >= 500 ? "msgUnreachable" : "msgFailed"));
        return;
      }
      const { message, nonce } = await challenge.json();
      let signature;
      try {
        signature = await signer.signMessage(message);
      } catch (error) {
        show(msg(refused(error) ? "msgRefused" : "msgFailed"));
        return;
      }
      const session = await fetch("/pages/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ nonce: nonce, signature: signature }),
        credentials: "same-origin",
      });
      if (session.ok) {
        window.location.reload();
        return;
      }
      const type = await problemOf(session);
      if (type.endsWith(":invalid-challenge")) show(msg("msgExpired"));
      else if (session.status === 401) show(msg("msgWrongSigner"));
      else show(msg(session.status >= 500 ? "msgUnreachable" : "msgFailed"));
    } catch (error) {
      show(msg(refused(error) ? "msgRefused" : "msgUnreachable"));
    } finally {
      button.disabled = false;
    }
  }

  function refused(error) {
    // EIP-1193 code 4001 (user rejected), which ethers reports as ACTION_REJECTED.
    return Boolean(error) && (error.code === 4001 || error.code === "ACTION_REJECTED" ||
      (error.info && error.info.error && error.info.error.code === 4001));
  }

  if (button) button.addEventListener("click", signIn);
  const signout = document.getElementById("signout");
  if (signout) {
    signout.addEventListener("click", async function () {
      await fetch("/pages/session/end", { method: "POST", credentials: "same-origin" });
      window.location.reload();
    });
  }
})();
