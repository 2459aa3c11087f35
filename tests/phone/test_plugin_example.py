"""The testers' kit example from the README ("Testers' kit"), run as part of the suite, word for word."""

from tillit.phone.pytest_plugin import TillitCustomer, TillitPhone, TillitSigner


def test_a_login_approved_on_the_phone(
    tillit_signer: TillitSigner, tillit_customer: TillitCustomer, tillit_phone: TillitPhone
) -> None:
    with tillit_signer.kiosk() as kiosk:
        order = kiosk.post("/v1/auth", json={"personalNumber": tillit_customer.personal_number}).json()

        approved = tillit_phone.approve(wait=10)  # runs `tillit-phone approve --wait 10`
        assert approved.ok, approved.stderr
        assert approved.request is not None
        assert approved.request["reference"] == order["reference"]  # what the kiosk shows

        kiosk.post("/v1/password", json={"orderRef": order["orderRef"], "password": tillit_customer.password})
        result = kiosk.post("/v1/collect", json={"orderRef": order["orderRef"]}).json()
        assert result["status"] == "complete"
        assert result["completionData"]["customer"]["name"] == tillit_customer.name

        again = kiosk.post("/v1/auth", json={"personalNumber": tillit_customer.personal_number}).json()
        assert tillit_phone.decline(wait=10).ok  # "Nei, avvis"
        declined = kiosk.post("/v1/collect", json={"orderRef": again["orderRef"]}).json()
        assert (declined["status"], declined["hintCode"]) == ("failed", "userCancel")

        assert tillit_phone.approve(wait=1).outcome == "nothingPending"  # exit code 3
