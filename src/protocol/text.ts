import { configureTextEncoding, getTextEncoding } from "@bufbuild/protobuf/wire"

/**
 * Protobuf `string` fields off the wire. The decoder replaces invalid UTF-8
 * with U+FFFD, so keys `61 ff` and `61 fe` would both become "a\uFFFD", the
 * same key as a client that really sent U+FFFD. Instead, text that is not
 * valid UTF-8 decodes with a lone surrogate in front: a string valid UTF-8
 * can never produce, so `wellFormed` tells it apart and the request is
 * refused. Installed once, before the first message is decoded.
 */
let installed = false
export const decodeInvalidUtf8AsIllFormed = (): void => {
  if (installed) return
  installed = true
  const standard = getTextEncoding()
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
  configureTextEncoding({
    encodeUtf8: (text) => standard.encodeUtf8(text),
    encodeUtf8Into: (text, into) => standard.encodeUtf8Into(text, into),
    checkUtf8: (text) => standard.checkUtf8(text),
    decodeUtf8: (bytes, throwOnInvalid) => {
      if (throwOnInvalid === true) return strict.decode(bytes)
      try {
        return strict.decode(bytes)
      } catch {
        return ILL_FORMED_MARK + standard.decodeUtf8(bytes)
      }
    }
  })
}

const ILL_FORMED_MARK = "\uDC00"

/** False for text with lone surrogates: what invalid UTF-8 off the wire decodes to. */
export const wellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed()
