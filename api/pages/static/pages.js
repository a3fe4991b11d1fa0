// Sign-in of the household's page: the wallet (EIP-1193, through ethers) personal_signs the
// server's one-time sign-in message; the server answers with an HttpOnly session cookie.
// Every text shown comes from the page (data-msg-* attributes rendered from the catalogues).
"use strict";

(function () {
  const button = document.getElementById("signin");
  const box = document.getElementById("message");

  // A problem is shown as a warning; the wait for the wallet as a plain note.
  function show(text, note) {
    box.textContent = text;
    box.classList.toggle("warn", !note);
    box.hidden = false;
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
    show(msg("msgSigning"), true);
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

// The standing plan: the server makes the next period's Schedule and its EIP-712 typed
// data; the wallet signs it here (eth_signTypedData_v4); the page sends the signed schedule
// to /schedules. A plan the wallet did not sign is never sent.
(function () {
  const form = document.getElementById("plan");
  if (!form) return;
  const box = document.getElementById("plan-message");
  const msg = (name) => form.dataset[name];

  function show(text, note) {
    box.textContent = text;
    box.classList.toggle("warn", !note);
    box.hidden = false;
  }

  async function problemType(response) {
    try {
      return String((await response.json()).type || "");
    } catch (error) {
      return "";
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const submit = document.getElementById("plan-submit");
    submit.disabled = true;
    try {
      // One object per band row of the table (selects and inputs named as PlanIn's fields).
      const bands = Array.from(form.querySelectorAll("tr.band")).map(function (row) {
        const field = (name) => row.querySelector('[name="' + name + '"]').value;
        return {
          from_hour: Number(field("from_hour")),
          to_hour: Number(field("to_hour")),
          side: field("side"),
          energy_wh: Number(field("energy_wh")),
          limit_eur_per_kwh: String(field("limit_eur_per_kwh")).trim() || "0",
        };
      });
      const made = await fetch("/pages/plan", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ bands: bands }),
      });
      if (made.status === 401) { show(msg("msgSession")); return; }
      if (!made.ok) {
        const type = made.status >= 500 ? "" : await problemType(made);
        if (type.endsWith(":overlapping-bands")) show(msg("msgOverlap"));
        else show(msg(made.status >= 500 ? "msgUnreachable" : "msgInvalid"));
        return;
      }
      const { typed_data: typed, schedule } = await made.json();
      if (!window.ethereum || !window.ethers) { show(msg("msgRefused")); return; }
      show(msg("msgSigning"), true);
      let signature;
      try {
        const signer = await new window.ethers.BrowserProvider(window.ethereum).getSigner();
        const types = Object.assign({}, typed.types);
        delete types.EIP712Domain; // ethers derives the domain's type itself
        signature = await signer.signTypedData(typed.domain, types, typed.message);
      } catch (error) {
        show(msg("msgRefused"));
        return;
      }
      const sent = await fetch("/schedules", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({}, schedule, { signature: signature })),
      });
      if (sent.ok) { show(msg("msgSent"), true); return; }
      let detail = "";
      try { detail = (await sent.json()).detail || ""; } catch (error) { detail = ""; }
      show(msg("msgRejected") + " " + detail);
    } catch (error) {
      show(msg("msgUnreachable"));
    } finally {
      submit.disabled = false;
    }
  });
})();

// Deposit and withdraw: the wallet sends the token's approve and the exchange's deposit, or
// the exchange's withdraw, itself (the server never holds a household's key).
(function () {
  const form = document.getElementById("escrow");
  if (!form) return;
  const box = document.getElementById("escrow-message");
  const msg = (name) => form.dataset[name];
  const ABI = [
    "function approve(address spender, uint256 amount) returns (bool)",
    "function deposit(uint256 amountUnits)",
    "function withdraw(uint256 amountUnits)",
  ];

  function show(text, note) {
    box.textContent = text;
    box.classList.toggle("warn", !note);
    box.hidden = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const action = event.submitter ? event.submitter.value : "deposit";
    let amount;
    try {
      amount = window.ethers.parseUnits(String(form.amount.value).trim().replace(",", "."), 6);
      if (amount <= 0n) throw new Error("not positive");
    } catch (error) {
      show(msg("msgInvalid"));
      return;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    show(msg("msgSigning"), true);
    try {
      const signer = await new window.ethers.BrowserProvider(window.ethereum).getSigner();
      const exchange = new window.ethers.Contract(form.dataset.exchange, ABI, signer);
      if (action === "deposit") {
        const token = new window.ethers.Contract(form.dataset.token, ABI, signer);
        await (await token.approve(form.dataset.exchange, amount)).wait();
        await (await exchange.deposit(amount)).wait();
      } else {
        await (await exchange.withdraw(amount)).wait();
      }
      show(msg("msgDone"), true);
      window.location.reload();
    } catch (error) {
      console.error("escrow:", error && (error.shortMessage || error.message));
      const refused = error && (error.code === 4001 || error.code === "ACTION_REJECTED");
      show(msg(refused ? "msgRefused" : "msgFailed"));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
})();
